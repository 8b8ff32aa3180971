"""WooCommerce bodies as a preview compares them: what we would send (a draft through the same
mapping the writer uses) and what the store answers, both flattened to field → value under the
store's own field names, with how each field compares."""

from __future__ import annotations

from typing import Any

from app.ports.store import Compare, Fields

COMPARISON: dict[str, Compare] = {
    "name": Compare.EXACT, "description": Compare.TEXT, "sku": Compare.EXACT, "status": Compare.EXACT,
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
    return {k: v for k, v in flat.items() if k in COMPARISON}


def _attribute(attr: dict[str, Any]) -> dict[str, Any]:
    if "option" in attr:
        return {"name": attr.get("name"), "option": attr.get("option")}
    return {"name": attr.get("name"), "options": list(attr.get("options") or []),
            "variation": bool(attr.get("variation"))}
