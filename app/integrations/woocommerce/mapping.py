"""Our product draft → the store's JSON.

Prices, weight and dimensions go as strings: single-item endpoints reject numbers and batch
items store them verbatim, so strings are the one form both accept (captures 07 and 10).
"""

from __future__ import annotations

from typing import Any

from app.catalog.types import StoreSettings

ZOHO_ITEM_META_KEY = "_zoho_item_id"


def draft_to_wc(draft: dict[str, Any], *, settings: StoreSettings) -> dict[str, Any]:
    """Map the fields present in `draft` (absent fields are left untouched in the store)."""
    body: dict[str, Any] = {}
    for ours, theirs in (("sku", "sku"), ("name", "name"), ("description", "description"),
                         ("price", "regular_price"), ("weight", "weight"), ("status", "status")):
        if ours in draft:
            body[theirs] = draft[ours]
    if "dimensions" in draft:
        body["dimensions"] = dict(draft["dimensions"])
    if "stock" in draft:
        body.update(_stock_fields(draft["stock"], settings))
    if "low_stock" in draft and settings.manage_stock:
        body["low_stock_amount"] = draft["low_stock"]
    if "type" not in body and "status" in draft:
        body["type"] = "simple"
    if draft.get("zoho_item_id"):
        body["meta_data"] = [{"key": ZOHO_ITEM_META_KEY, "value": str(draft["zoho_item_id"])}]
    return body


def _stock_fields(stock: int | None, settings: StoreSettings) -> dict[str, Any]:
    """With stock managed, the store derives the stock status from the quantity, so only the
    quantity is sent. A store that does not manage stock ignores quantities: send the status."""
    if stock is None:  # Zoho does not track this item's stock (e.g. a service)
        return {"manage_stock": False, "stock_status": "instock"}
    if not settings.manage_stock:
        return {"stock_status": "instock" if stock > 0 else "outofstock"}
    return {"manage_stock": True, "stock_quantity": stock}
