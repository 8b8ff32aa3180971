"""Field-level differences between what a sync would write and what the store holds.

Both sides are brought to the store's own field names (the draft through the same mapping the
writer uses), then compared field by field. Numbers (prices, weights, dimensions) compare by
value: "19" and "19.00" are the same price to a merchant and to the store. Descriptions compare
after trimming the whitespace the store adds around stored HTML.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

NUMERIC = {"regular_price", "weight", "dimensions.length", "dimensions.width", "dimensions.height"}
COMPARED = ("name", "description", "sku", "status", "regular_price", "manage_stock", "stock_quantity", "stock_status",
            "low_stock_amount", "weight", "dimensions.length", "dimensions.width", "dimensions.height", "attributes",
            "images", "image")


def flatten(body: dict[str, Any]) -> dict[str, Any]:
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
    return {k: v for k, v in flat.items() if k in COMPARED}


def differences(intended: dict[str, Any], stored: dict[str, Any] | None) -> list[dict[str, Any]]:
    """[{field, store, zoho}] for every field the write sets to something the store lacks."""
    want = flatten(intended)
    have = flatten(stored or {})
    changes = []
    for field in COMPARED:
        if field not in want:
            continue
        if stored is not None and _same(field, want[field], have.get(field)):
            continue
        changes.append({"field": field, "store": have.get(field) if stored is not None else None,
                        "zoho": want[field]})
    return changes


def _attribute(attr: dict[str, Any]) -> dict[str, Any]:
    if "option" in attr:
        return {"name": attr.get("name"), "option": attr.get("option")}
    return {"name": attr.get("name"), "options": list(attr.get("options") or []),
            "variation": bool(attr.get("variation"))}


def _same(field: str, ours: Any, theirs: Any) -> bool:
    if field in NUMERIC:
        return _number(ours) == _number(theirs)
    if field == "description":
        return str(ours or "").strip() == str(theirs or "").strip()
    if field == "stock_quantity" and theirs is not None and ours is not None:
        return _number(ours) == _number(theirs)
    return ours == theirs


def _number(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).normalize()
    except InvalidOperation:
        return None
