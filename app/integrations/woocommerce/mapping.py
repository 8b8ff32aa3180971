"""Our drafts → the store's JSON, for simple products, variable products and variations.

Prices, weight and dimensions go as strings: single-item endpoints reject numbers and batch
items store them verbatim, so strings are the one form both accept (captures 07 and 10).
Images arrive here as media ids (the writer resolved our image keys); a draft without an
`images`/`image` key leaves the store's images untouched.
"""

from __future__ import annotations

from typing import Any

from app.catalog.types import StoreSettings

ZOHO_ITEM_META_KEY = "_zoho_item_id"
ZOHO_GROUP_META_KEY = "_zoho_group_id"


def draft_to_wc(draft: dict[str, Any], *, settings: StoreSettings) -> dict[str, Any]:
    """Map the fields present in `draft` (absent fields are left untouched in the store)."""
    if "retire" in draft:
        return _retire(draft, settings)
    kind = draft.get("kind", "product")
    body: dict[str, Any] = {}
    for ours, theirs in (("sku", "sku"), ("name", "name"), ("description", "description"),
                         ("price", "regular_price"), ("weight", "weight"), ("status", "status")):
        if ours in draft:
            body[theirs] = draft[ours]
    if "dimensions" in draft:
        body["dimensions"] = dict(draft["dimensions"])
    if "stock" in draft:
        body.update(_stock_fields(draft["stock"], settings, variation=kind == "variation"))
    if "low_stock" in draft and (settings.manage_stock or kind == "variation"):
        body["low_stock_amount"] = draft["low_stock"]
    if kind == "variable" and "attributes" in draft:
        body["type"] = "variable"
        body["attributes"] = [{"name": a["name"], "position": i, "visible": True, "variation": True,
                               "options": list(a["options"])} for i, a in enumerate(draft["attributes"])]
    elif kind == "variation" and "attributes" in draft:
        body["attributes"] = [{"name": a["name"], "option": a["option"]} for a in draft["attributes"]]
    elif kind == "product" and "status" in draft:
        body["type"] = "simple"
    if "images" in draft:
        body["images"] = [m if isinstance(m, dict) else {"id": m} for m in draft["images"]]
    if "image" in draft:
        # An object with neither id nor src clears a variation's image.
        image = draft["image"]
        body["image"] = image if isinstance(image, dict) else ({"id": image} if image else {})
    if draft.get("zoho_item_id"):
        body["meta_data"] = [{"key": ZOHO_ITEM_META_KEY, "value": str(draft["zoho_item_id"])}]
    if draft.get("zoho_group_id"):
        body["meta_data"] = [{"key": ZOHO_GROUP_META_KEY, "value": str(draft["zoho_group_id"])}]
    return body


def _retire(draft: dict[str, Any], settings: StoreSettings) -> dict[str, Any]:
    """Out of stock (and private unless the connection keeps retired variations visible)."""
    body: dict[str, Any] = {"manage_stock": True, "stock_quantity": 0}
    if not settings.manage_stock:
        body = {"manage_stock": False, "stock_status": "outofstock"}
    if draft["retire"] == "private":
        body["status"] = "private"
    if "sku" in draft:
        body["sku"] = draft["sku"]
    return body


def _stock_fields(stock: int | None, settings: StoreSettings, *, variation: bool = False) -> dict[str, Any]:
    """With stock managed, the store derives the stock status from the quantity, so only the
    quantity is sent. A store that does not manage stock ignores product quantities (variations
    do not check the global option, but the status is what shoppers see): send the status."""
    if stock is None:  # Zoho does not track this item's stock (e.g. a service)
        return {"manage_stock": False, "stock_status": "instock"}
    if not settings.manage_stock and not variation:
        return {"stock_status": "instock" if stock > 0 else "outofstock"}
    return {"manage_stock": True, "stock_quantity": stock}
