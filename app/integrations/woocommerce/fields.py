"""WooCommerce bodies as a preview compares them: what we would send (a draft through the same
mapping the writer uses) and what the store answers, both flattened to field → value under the
store's own field names, with how each field compares."""

from __future__ import annotations

from typing import Any

from app.ports.store import STATUS_BEFORE_TRASH, TRASHED, Compare, Fields

# WordPress keeps a trashed post's earlier status in this meta key (wp_trash_post); its own
# "Restore" puts posts back as drafts since WordPress 5.6, we put them back as they were.
TRASH_META_STATUS = "_wp_trash_meta_status"

# Names and descriptions are HTML-filtered by WordPress ("&" is kept as "&amp;"): text, not exact.
COMPARISON: dict[str, Compare] = {
    "name": Compare.TEXT, "description": Compare.TEXT, "sku": Compare.EXACT, "status": Compare.EXACT,
    "regular_price": Compare.NUMBER, "manage_stock": Compare.EXACT, "stock_quantity": Compare.COUNT,
    "stock_status": Compare.EXACT, "low_stock_amount": Compare.EXACT, "weight": Compare.NUMBER,
    "dimensions.length": Compare.NUMBER, "dimensions.width": Compare.NUMBER, "dimensions.height": Compare.NUMBER,
    "attributes": Compare.EXACT, "images": Compare.EXACT, "image": Compare.EXACT,
}


def flatten(body: dict[str, Any]) -> Fields:
    """A store body (what we send, or what the store answers) as comparable field → value."""
    flat: dict[str, Any] = {}
    for key, value in body.items():
        if key == "dimensions" and isinstance(value, dict):
            flat.update({f"dimensions.{axis}": v for axis, v in value.items()})
        elif key == "attributes" and isinstance(value, list):
            flat[key] = [_attribute(a) for a in value if isinstance(a, dict)]
        elif key == "images" and isinstance(value, list):
            flat[key] = [img.get("id") if isinstance(img, dict) else img for img in value]
        elif key == "image":
            flat[key] = value.get("id") if isinstance(value, dict) and value.get("id") else None
        else:
            flat[key] = value
    fields = {k: v for k, v in flat.items() if k in COMPARISON}
    if body.get("status") == "trash":
        fields[TRASHED] = True
        fields[STATUS_BEFORE_TRASH] = next(
            (str(m.get("value")) for m in body.get("meta_data") or []
             if isinstance(m, dict) and m.get("key") == TRASH_META_STATUS and m.get("value")), None)
    return fields


def _attribute(attr: dict[str, Any]) -> dict[str, Any]:
    if "option" in attr:
        return {"name": attr.get("name"), "option": attr.get("option")}
    return {"name": attr.get("name"), "options": list(attr.get("options") or []),
            "variation": bool(attr.get("variation"))}
