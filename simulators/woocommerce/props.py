"""Request fields → product/variation props: `prepare_object_for_database` of the v3 controllers.

The functions change a working copy (a draft) in the order WooCommerce sets props, so the first
domain error raised (an SKU clash, a bad catalog visibility) is the one the store would report.
Type checking is not done here: single-item routes validate against the schema first, batch
items are not validated at all and go through these lenient setters (7.5 → "7.5").

`null` values: WooCommerce reads request fields with `isset()`, yet the live store clears strings
and `low_stock_amount` on `null` (captures README). So `null` clears strings and nullable numbers
and is ignored for everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulators.woocommerce.errors import WCError
from simulators.woocommerce.records import DEFAULT_CATEGORY_ID, ProductRecord
from simulators.woocommerce.wp import (
    format_decimal,
    intval,
    kses_post,
    parse_rest_date,
    sanitize_title,
    string_to_bool,
    wc_clean,
)

if TYPE_CHECKING:
    from simulators.woocommerce.state import StoreState

POST_STATUSES = ("draft", "pending", "private", "publish", "future", "auto-draft", "trash")
STOCK_STATUSES = ("instock", "outofstock", "onbackorder")
BACKORDERS = ("no", "notify", "yes")
PRODUCT_TYPES = ("simple", "grouped", "external", "variable")

_STRING_FIELDS: dict[str, Callable[[Any], str]] = {
    "name": kses_post,
    "description": kses_post,
    "short_description": kses_post,
    "purchase_note": kses_post,
    "external_url": wc_clean,
    "button_text": wc_clean,
    "post_password": lambda v: "" if v is None else str(v),
}


def _has(params: dict[str, Any], key: str) -> bool:
    return key in params


def apply_product_params(store: StoreState, draft: ProductRecord, params: dict[str, Any]) -> None:
    """Set the props of a product draft from request params (creates and updates alike)."""
    _apply_type(draft, params)
    _apply_strings(draft, params, ("name", "description", "short_description"))
    if _has(params, "status"):
        draft.status = _post_status(params["status"], POST_STATUSES)
    if _has(params, "slug") and params["slug"] is not None:
        draft.slug = sanitize_title(params["slug"])
    _apply_catalog_visibility(draft, params)
    _apply_booleans(draft, params, ("featured",))
    _apply_shipping(draft, params)
    _apply_sku(store, draft, params)
    _apply_gtin(store, draft, params)
    if _has(params, "attributes"):
        draft.attributes = _product_attributes(params["attributes"])
    _apply_booleans(draft, params, ("downloadable", "virtual"))
    _apply_tax(draft, params)
    _apply_prices(draft, params)
    _apply_booleans(draft, params, ("sold_individually",))
    _apply_product_stock(store, draft, params)
    _apply_id_lists(draft, params, ("upsell_ids", "cross_sell_ids"))
    _apply_downloads(draft, params)
    _apply_strings(draft, params, ("external_url", "button_text", "purchase_note", "post_password"))
    _apply_booleans(draft, params, ("reviews_allowed",))
    _apply_ints(draft, params, ("download_limit", "download_expiry", "parent_id", "menu_order"))
    _apply_terms(store, draft, params)
    if _has(params, "default_attributes"):
        draft.default_attributes = _default_attributes(draft, params["default_attributes"])
    _apply_dates(draft, params)
    _apply_meta(store, draft, params)


def apply_variation_params(
    store: StoreState, draft: ProductRecord, parent: ProductRecord | None, params: dict[str, Any]
) -> None:
    """Set the props of a variation draft (`WC_REST_Product_Variations_Controller`)."""
    if _has(params, "status"):
        draft.status = _post_status(params["status"], ("draft", "pending", "private", "publish"))
    _apply_sku(store, draft, params)
    _apply_gtin(store, draft, params)
    _apply_booleans(draft, params, ("virtual", "downloadable"))
    _apply_downloads(draft, params)
    _apply_ints(draft, params, ("download_limit", "download_expiry"))
    _apply_shipping(draft, params)
    _apply_variation_stock(draft, params)
    _apply_prices(draft, params)
    _apply_dates(draft, params)
    _apply_tax(draft, params)
    _apply_strings(draft, params, ("description",))
    if _has(params, "attributes"):
        draft.attributes = _variation_attributes(parent, params["attributes"])
    _apply_ints(draft, params, ("menu_order",))
    if _has(params, "gallery_image_ids"):
        draft.gallery_image_ids = [intval(v) for v in params["gallery_image_ids"] or [] if intval(v) > 0]
    _apply_meta(store, draft, params)


# ------------------------------------------------------------------ plain props


def _apply_type(draft: ProductRecord, params: dict[str, Any]) -> None:
    # An unknown type falls back to the simple product class, as wc_get_product_object does.
    if _has(params, "type") and params["type"] is not None:
        draft.type = params["type"] if params["type"] in PRODUCT_TYPES else "simple"


def _apply_strings(draft: ProductRecord, params: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if _has(params, name):
            setattr(draft, name, _STRING_FIELDS[name](params[name]) if params[name] is not None else "")


def _apply_booleans(draft: ProductRecord, params: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if _has(params, name) and params[name] is not None:
            setattr(draft, name, string_to_bool(params[name]))


def _apply_ints(draft: ProductRecord, params: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if _has(params, name) and params[name] is not None:
            setattr(draft, name, intval(params[name]))


def _post_status(value: Any, allowed: tuple[str, ...]) -> str:
    # `get_post_status_object($status) ? $status : 'draft'`
    return value if value in allowed else "draft"


def _apply_catalog_visibility(draft: ProductRecord, params: dict[str, Any]) -> None:
    if not _has(params, "catalog_visibility") or params["catalog_visibility"] is None:
        return
    if params["catalog_visibility"] not in ("visible", "catalog", "search", "hidden"):
        raise WCError("product_invalid_catalog_visibility", "Invalid catalog visibility option.", 400)
    draft.catalog_visibility = params["catalog_visibility"]


def _apply_tax(draft: ProductRecord, params: dict[str, Any]) -> None:
    if _has(params, "tax_status") and params["tax_status"] is not None:
        status = params["tax_status"] or "taxable"
        if status not in ("taxable", "shipping", "none"):
            raise WCError("product_invalid_tax_status", "Invalid product tax status.", 400)
        draft.tax_status = status
    if _has(params, "tax_class"):
        draft.tax_class = sanitize_title(params["tax_class"] or "")


def _apply_shipping(draft: ProductRecord, params: dict[str, Any]) -> None:
    if _has(params, "weight"):
        draft.weight = format_decimal(params["weight"])
    dimensions = params.get("dimensions")
    if isinstance(dimensions, dict):
        for side in ("length", "width", "height"):
            if side in dimensions:
                draft.dimensions[side] = format_decimal(dimensions[side])
    if _has(params, "shipping_class"):
        draft.shipping_class = sanitize_title(params["shipping_class"] or "")


def _apply_prices(draft: ProductRecord, params: dict[str, Any]) -> None:
    if _has(params, "regular_price"):
        draft.regular_price = format_decimal(params["regular_price"])
    if _has(params, "sale_price"):
        draft.sale_price = format_decimal(params["sale_price"])
    # Prices of variable and grouped products live on their children.
    if draft.type in ("variable", "grouped"):
        draft.regular_price = draft.sale_price = ""


def _apply_dates(draft: ProductRecord, params: dict[str, Any]) -> None:
    for key, attr in (
        ("date_on_sale_from", "date_on_sale_from"),
        ("date_on_sale_from_gmt", "date_on_sale_from"),
        ("date_on_sale_to", "date_on_sale_to"),
        ("date_on_sale_to_gmt", "date_on_sale_to"),
    ):
        if _has(params, key):
            setattr(draft, attr, parse_rest_date(params[key]) if params[key] else None)
    for key in ("date_created", "date_created_gmt"):
        moment = parse_rest_date(params.get(key))
        if moment is not None:
            draft.date_created = moment


def _apply_downloads(draft: ProductRecord, params: dict[str, Any]) -> None:
    if _has(params, "downloads") and isinstance(params["downloads"], list):
        draft.downloads = [
            {"id": str(d.get("id") or ""), "name": wc_clean(d.get("name") or ""), "file": str(d.get("file") or "")}
            for d in params["downloads"]
            if isinstance(d, dict)
        ]


def _apply_id_lists(draft: ProductRecord, params: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if _has(params, name):
            values = params[name] if isinstance(params[name], list) else []
            setattr(draft, name, [i for i in (intval(v) for v in values) if i > 0])


# ------------------------------------------------------------------ SKU and GTIN


def _apply_sku(store: StoreState, draft: ProductRecord, params: dict[str, Any]) -> None:
    """`WC_Product::set_sku`: unique across products and variations, trash excluded."""
    if not _has(params, "sku"):
        return
    sku = wc_clean(params["sku"] or "")
    if sku:
        holder = store.sku_holder(sku, exclude_id=draft.id)
        if holder is not None:
            raise WCError(
                "product_invalid_sku",
                "Invalid or duplicated SKU.",
                400,
                {"resource_id": holder.id, "unique_sku": store.unique_sku(sku, exclude_id=draft.id)},
            )
    draft.sku = sku


def _apply_gtin(store: StoreState, draft: ProductRecord, params: dict[str, Any]) -> None:
    if not _has(params, "global_unique_id"):
        return
    value = wc_clean(params["global_unique_id"] or "")
    if value and store.gtin_holder(value, exclude_id=draft.id) is not None:
        raise WCError("product_invalid_global_unique_id", "Invalid or duplicated GTIN, UPC, EAN or ISBN.", 400)
    draft.global_unique_id = value


# ------------------------------------------------------------------ stock


def _valid_stock_status(value: Any) -> str:
    # set_stock_status: an unknown value falls back to instock.
    return value if value in STOCK_STATUSES else "instock"


def _apply_product_stock(store: StoreState, draft: ProductRecord, params: dict[str, Any]) -> None:
    """Stock props as the v3 products controller sets them (global option first)."""
    requested_status = params.get("stock_status") if _has(params, "stock_status") else draft.stock_status
    if not store.manages_stock:
        # manage_stock / stock_quantity are ignored unless woocommerce_manage_stock = yes.
        if draft.type != "variable":
            draft.stock_status = _valid_stock_status(requested_status)
        return
    if _has(params, "manage_stock") and params["manage_stock"] is not None:
        draft.manage_stock = string_to_bool(params["manage_stock"])
    if _has(params, "backorders") and params["backorders"] in BACKORDERS:
        draft.backorders = params["backorders"]
    if draft.type in ("grouped", "external"):
        draft.manage_stock, draft.backorders, draft.stock_quantity, draft.low_stock_amount = False, "no", None, None
        draft.stock_status = "instock" if draft.type == "external" else _valid_stock_status(requested_status)
    elif draft.manage_stock:
        if draft.type != "variable":
            draft.stock_status = _valid_stock_status(requested_status)
        _apply_quantity(draft, params)
    else:
        draft.stock_quantity, draft.low_stock_amount = None, None
        draft.stock_status = _valid_stock_status(requested_status)


def _apply_quantity(draft: ProductRecord, params: dict[str, Any]) -> None:
    if _has(params, "stock_quantity") and params["stock_quantity"] is not None:
        draft.stock_quantity = intval(params["stock_quantity"])
    elif _has(params, "inventory_delta") and params["inventory_delta"] is not None:
        draft.stock_quantity = (draft.stock_quantity or 0) + intval(params["inventory_delta"])
    if _has(params, "low_stock_amount"):
        value = params["low_stock_amount"]
        draft.low_stock_amount = None if value in (None, "") else abs(intval(value))


def _apply_variation_stock(draft: ProductRecord, params: dict[str, Any]) -> None:
    """Variation stock: the global woocommerce_manage_stock option is not consulted here."""
    if _has(params, "manage_stock") and params["manage_stock"] is not None:
        # "parent" means: this variation does not manage stock, its parent does.
        value = params["manage_stock"]
        draft.manage_stock = False if value == "parent" else string_to_bool(value)
    if _has(params, "backorders") and params["backorders"] in BACKORDERS:
        draft.backorders = params["backorders"]
    if draft.manage_stock:
        _apply_quantity(draft, params)
    else:
        draft.backorders, draft.stock_quantity, draft.low_stock_amount = "no", None, None
    if _has(params, "stock_status") and params["stock_status"] is not None:
        draft.stock_status = _valid_stock_status(params["stock_status"])


def derive_stock_status(record: ProductRecord) -> None:
    """`WC_Product::validate_props`: managed stock decides stock_status; unmanaged clears qty."""
    if not record.manage_stock:
        record.stock_quantity, record.low_stock_amount = None, None
        record.backorders = "no"
        return
    quantity = record.stock_quantity or 0
    if quantity > 0:  # woocommerce_notify_no_stock_amount = 0
        record.stock_status = "instock"
    elif record.backorders != "no":
        record.stock_status = "onbackorder"
    else:
        record.stock_status = "outofstock"


# ------------------------------------------------------------------ attributes and terms


def _options(value: Any) -> list[str]:
    """Attribute options: a list, or a "|"-delimited string (WC_DELIMITER)."""
    items = value if isinstance(value, list) else str(value).split("|") if value is not None else []
    return [cleaned for cleaned in (wc_clean(item) for item in items) if cleaned != ""]


def _product_attributes(value: Any) -> list[dict[str, Any]]:
    """Local (custom) attributes; global ones need taxonomy ids the simulator does not have."""
    result = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict) or not item.get("name") or "options" not in item:
            continue
        result.append(
            {
                "name": wc_clean(item["name"]),
                "position": abs(intval(item.get("position") or 0)),
                "visible": bool(item.get("visible")),
                "variation": bool(item.get("variation")),
                "options": _options(item["options"]),
            }
        )
    # WooCommerce sorts attributes by position on save (stable for equal positions).
    return sorted(result, key=lambda attribute: attribute["position"])


def _variation_attributes(parent: ProductRecord | None, value: Any) -> list[dict[str, Any]]:
    """Match by sanitized name against the parent's `variation: true` attributes; drop the rest."""
    if parent is None:
        raise WCError(
            "woocommerce_rest_product_variation_invalid_parent",
            "Cannot set attributes due to invalid parent product.",
            404,
        )
    by_key = {sanitize_title(a["name"]): a for a in parent.attributes if a.get("variation")}
    chosen: dict[str, str] = {}
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict) or not item.get("name"):
            continue
        key = sanitize_title(item["name"])
        if key in by_key:
            chosen[key] = wc_clean(item.get("option") or "")
    return [{"key": key, "value": option} for key, option in chosen.items()]


def _default_attributes(draft: ProductRecord, value: Any) -> list[dict[str, Any]]:
    by_key = {sanitize_title(a["name"]): a for a in draft.attributes}
    result = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and item.get("name") and sanitize_title(item["name"]) in by_key:
            result.append({"key": sanitize_title(item["name"]), "value": wc_clean(item.get("option") or "")})
    return result


def _apply_terms(store: StoreState, draft: ProductRecord, params: dict[str, Any]) -> None:
    """Categories by id (unknown ids are ignored); tags by id or by name (created if missing)."""
    if _has(params, "categories"):
        items = params["categories"] if isinstance(params["categories"], list) else []
        ids = [intval(c.get("id")) for c in items if isinstance(c, dict)]
        draft.category_ids = [i for i in ids if i in store.categories] or [DEFAULT_CATEGORY_ID]
    if _has(params, "tags"):
        items = params["tags"] if isinstance(params["tags"], list) else []
        draft.tag_ids = [t for t in (store.resolve_tag(item) for item in items) if t is not None]


def _apply_meta(store: StoreState, draft: ProductRecord, params: dict[str, Any]) -> None:
    """`update_meta_data(key, value, id)`: upsert by id, else by key; keys not sent are kept."""
    items = params.get("meta_data")
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, dict) or "key" not in item:
            continue
        key, value = str(item["key"]), item.get("value")
        target = _find_meta(draft, intval(item.get("id") or 0), key)
        if target is not None:
            target["key"], target["value"] = key, value
        else:
            # Meta ids are given out on save; 0 marks "new".
            draft.meta_data.append({"id": 0, "key": key, "value": value})


def _find_meta(draft: ProductRecord, meta_id: int, key: str) -> dict[str, Any] | None:
    if meta_id:
        found = next((m for m in draft.meta_data if m["id"] == meta_id), None)
        if found is not None:
            return found
    return next((m for m in draft.meta_data if m["key"] == key), None)
