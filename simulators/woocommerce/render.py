"""Stored objects → the JSON WooCommerce/WordPress answers with (captures 01-57 are the model).

Key order follows the captures. `context="edit"` is what write routes answer (raw description,
`average_rating` "0", `permalink_template`, `generated_slug`); `context="view"` is what GETs answer
(description through wpautop, `average_rating` "0.00", meta values read back as strings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simulators.woocommerce.records import DRAFT_STATUSES, MediaItem, ProductRecord
from simulators.woocommerce.state import current_price, is_on_sale
from simulators.woocommerce.wp import is_numeric, php_string, php_urlencode, sanitize_title, wp_date, wpautop

if TYPE_CHECKING:
    from simulators.woocommerce.state import StoreState

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
API = "/wp-json/wc/v3"


@dataclass
class RenderContext:
    """Where and how a response is rendered."""

    site: str  # "https://shop.example.com" (no trailing slash)
    context: str = "view"  # view | edit
    include_meta: list[str] | None = None
    exclude_meta: list[str] | None = None

    @property
    def edit(self) -> bool:
        return self.context == "edit"


# ------------------------------------------------------------------ small pieces


def wc_price(store: StoreState, amount: float, *, hidden: bool = False) -> str:
    """`wc_price`: 2 decimals, "," thousands, currency symbol on the left."""
    aria = ' aria-hidden="true"' if hidden else ""
    return (
        f'<span class="woocommerce-Price-amount amount"{aria}><bdi><span class="woocommerce-Price-currencySymbol"'
        f' translate="no">{store.currency_symbol}</span>{amount:,.2f}</bdi></span>'
    )


def price_html(store: StoreState, record: ProductRecord) -> str:
    """`get_price_html` for simple products, variations and variable ranges."""
    if record.type == "variable":
        return _range_html(store, record)
    price = current_price(record)
    if price == "" or not is_numeric(price):
        return ""
    if is_on_sale(record):
        regular, sale = float(record.regular_price), float(price)
        sym = store.currency_symbol
        return (
            f'<del aria-hidden="true">{wc_price(store, regular)}</del> <span class="screen-reader-text">Original '
            f'price was: {sym}{regular:,.2f}.</span><ins aria-hidden="true">{wc_price(store, sale)}</ins><span '
            f'class="screen-reader-text">Current price is: {sym}{sale:,.2f}.</span>'
        )
    return wc_price(store, float(price))


def _range_html(store: StoreState, record: ProductRecord) -> str:
    summary = store.variable_summary(record)
    low, high = summary["min"], summary["max"]
    if low is None:
        return ""
    if low == high:
        return wc_price(store, low)
    sym = store.currency_symbol
    return (
        f'{wc_price(store, low, hidden=True)} <span aria-hidden="true">&ndash;</span> '
        f'{wc_price(store, high, hidden=True)}<span class="screen-reader-text">Price range: '
        f"{sym}{low:,.2f} through {sym}{high:,.2f}</span>"
    )


def product_permalink(ctx: RenderContext, record: ProductRecord) -> str:
    """Drafts (and trash) use ?post_type=product&p=ID; published products /product/<slug>/."""
    if record.status in DRAFT_STATUSES or record.status in ("future", "trash") or not record.slug:
        return f"{ctx.site}/?post_type=product&p={record.id}"
    return f"{ctx.site}/product/{record.slug}/"


def variation_permalink(store: StoreState, ctx: RenderContext, record: ProductRecord) -> str:
    parent = store.get(record.parent_id)
    if parent is None:
        return f"{ctx.site}/?post_type=product_variation&p={record.id}"
    base = product_permalink(ctx, parent)
    query = "&".join(f"attribute_{key}={php_urlencode(value)}" for key, value in _variation_pairs(store, record))
    if not query:
        return base
    return f"{base}{'&' if '?' in base else '?'}{query}"


def _variation_pairs(store: StoreState, record: ProductRecord) -> list[tuple[str, str]]:
    """(key, value) of a variation's set attributes, in the parent's attribute order."""
    parent = store.get(record.parent_id)
    own = {a["key"]: a["value"] for a in record.attributes if a["value"] != ""}
    order = [sanitize_title(a["name"]) for a in parent.attributes] if parent else list(own)
    return [(key, own[key]) for key in order if key in own]


def _attribute_label(store: StoreState, record: ProductRecord, key: str) -> str:
    parent = store.get(record.parent_id)
    for attribute in parent.attributes if parent else []:
        if sanitize_title(attribute["name"]) == key:
            return attribute["name"]
    return key


def variation_short_name(store: StoreState, record: ProductRecord) -> str:
    """"Red, M": `wc_get_formatted_variation($variation, true, false, false)`."""
    return ", ".join(value for _, value in _variation_pairs(store, record))


def variation_title(store: StoreState, record: ProductRecord) -> str:
    """The variation's post title: "Parent - Red, M" (attributes left out from 3 attributes on,
    or when one of several attribute names has several words)."""
    parent = store.get(record.parent_id)
    base = parent.name if parent else ""
    pairs = _variation_pairs(store, record)
    include = 0 < len(pairs) < 3 and not (len(pairs) > 1 and any("-" in key for key, _ in pairs))
    return f"{base} - {variation_short_name(store, record)}" if include else base


def _date_fields(prefix: str, moment: Any) -> dict[str, Any]:
    return {prefix: wp_date(moment), f"{prefix}_gmt": wp_date(moment)}


def _meta(ctx: RenderContext, record: ProductRecord) -> list[dict[str, Any]]:
    """meta_data, honouring include_meta/exclude_meta; in view context values read back from the
    database, where scalars are strings (7 → "7", true → "1")."""
    items = list(record.meta_data)
    if ctx.include_meta:
        items = [m for m in items if m["key"] in ctx.include_meta]
    if ctx.exclude_meta:
        items = [m for m in items if m["key"] not in ctx.exclude_meta]
    if ctx.edit:
        return [dict(m) for m in items]
    return [{**m, "value": m["value"] if isinstance(m["value"], (dict, list)) else php_string(m["value"])} for m in items]


def upload_url(ctx: RenderContext, item: MediaItem) -> str:
    return f"{ctx.site}/wp-content/uploads/{item.file}"


def image_json(store: StoreState, ctx: RenderContext, media_id: int, *, full: bool) -> dict[str, Any] | None:
    """A product image (`full`: with srcset/sizes/thumbnail) or a variation image."""
    item = store.media.get(media_id)
    if item is None:
        return None
    data = {
        "id": item.id,
        **_date_fields("date_created", item.date_created),
        **_date_fields("date_modified", item.date_created),
        "src": upload_url(ctx, item),
        "name": item.title,
        "alt": item.alt,
    }
    if full:
        sizes = f"(max-width: {item.width}px) 100vw, {item.width}px" if item.width else ""
        data.update({"srcset": "", "sizes": sizes, "thumbnail": data["src"]})
    return data


def _links(ctx: RenderContext, path: str, collection: str, up: str | None, *, hints: bool = True) -> dict[str, Any]:
    self_link: dict[str, Any] = {"href": f"{ctx.site}{API}{path}"}
    if hints:
        self_link["targetHints"] = {"allow": list(ALL_METHODS)}
    links: dict[str, Any] = {"self": [self_link], "collection": [{"href": f"{ctx.site}{API}{collection}"}]}
    if up:
        links["up"] = [{"href": f"{ctx.site}{API}{up}"}]
    return links


def _inherited(store: StoreState, ctx: RenderContext, record: ProductRecord) -> tuple[str, dict[str, str], str]:
    """Weight, dimensions and tax class of a variation; in view context empty ones come from the parent."""
    weight, dimensions, tax_class = record.weight, dict(record.dimensions), record.tax_class
    parent = store.get(record.parent_id) if record.is_variation else None
    if ctx.edit or parent is None:
        return weight, dimensions, tax_class
    weight = weight or parent.weight
    dimensions = {k: v or parent.dimensions.get(k, "") for k, v in dimensions.items()}
    tax_class = parent.tax_class if tax_class == "parent" else tax_class
    return weight, dimensions, tax_class


def _manage_stock(store: StoreState, record: ProductRecord) -> bool | str:
    if record.is_variation and not record.manage_stock:
        parent = store.get(record.parent_id)
        return "parent" if parent is not None and parent.manage_stock else False
    return record.manage_stock


def _backorder_flags(record: ProductRecord) -> dict[str, Any]:
    allowed = record.manage_stock and record.backorders != "no"
    return {
        "backorders": record.backorders,
        "backorders_allowed": bool(allowed),
        "backordered": bool(allowed and (record.stock_quantity or 0) < 0),
    }


# ------------------------------------------------------------------ products


def product_json(store: StoreState, ctx: RenderContext, record: ProductRecord, *, hints: bool = True) -> dict[str, Any]:
    """A product (or a variation in product shape, as /products returns it: captures 20, 21)."""
    variation = record.is_variation
    name = variation_title(store, record) if variation else record.name
    data: dict[str, Any] = {
        "id": record.id,
        "name": name,
        "slug": _slug(record, name),
        "permalink": variation_permalink(store, ctx, record) if variation else product_permalink(ctx, record),
        **_date_fields("date_created", record.date_created),
        **_date_fields("date_modified", record.date_modified),
        "type": record.type,
        "status": record.status,
        "featured": record.featured,
        "catalog_visibility": record.catalog_visibility,
        "description": record.description if ctx.edit else wpautop(record.description),
        "short_description": record.short_description if ctx.edit else wpautop(record.short_description),
        "sku": record.sku,
        **_price_block(store, record),
        "total_sales": str(record.total_sales) if variation else record.total_sales,
        **_download_block(record),
        "external_url": record.external_url,
        "button_text": record.button_text,
        **_stock_and_shipping(store, ctx, record),
        "reviews_allowed": record.reviews_allowed,
        "average_rating": "0" if ctx.edit else "0.00",
        "rating_count": 0,
        "upsell_ids": list(record.upsell_ids),
        "cross_sell_ids": list(record.cross_sell_ids),
        "parent_id": record.parent_id,
        "purchase_note": record.purchase_note,
        **_taxonomy_block(store, ctx, record),
        "menu_order": record.menu_order,
        "price_html": price_html(store, record),
        "related_ids": [],
        "meta_data": _meta(ctx, record),
        "stock_status": store.effective_stock_status(record),
        "has_options": record.type == "variable",
        "post_password": record.post_password,
        "global_unique_id": record.global_unique_id,
    }
    if ctx.edit:
        data["permalink_template"] = f"{ctx.site}/product/%pagename%/"
        # get_sample_permalink($id, $name, ''): the slug the current name would get, any status.
        base = sanitize_title(name)
        data["generated_slug"] = store.unique_slug(base, record.id) if base else ""
    up = f"/products/{record.parent_id}" if record.parent_id else None
    data["_links"] = _links(ctx, f"/products/{record.id}", "/products", up, hints=hints)
    return data


def _slug(record: ProductRecord, name: str) -> str:
    """Variations get their post_name from the generated title; trash keeps "__trashed"."""
    if record.is_variation and record.status != "trash":
        return "" if record.status in DRAFT_STATUSES else sanitize_title(name)
    return record.slug


def _price_block(store: StoreState, record: ProductRecord) -> dict[str, Any]:
    summary = store.variable_summary(record) if record.type == "variable" else None
    price = current_price(record)
    return {
        "price": summary["price"] if summary else ("" if record.type == "grouped" else price),
        "regular_price": record.regular_price,
        "sale_price": record.sale_price,
        **_date_fields("date_on_sale_from", record.date_on_sale_from),
        **_date_fields("date_on_sale_to", record.date_on_sale_to),
        "on_sale": summary["on_sale"] if summary else is_on_sale(record),
        "purchasable": summary["purchasable"] if summary else record.type not in ("grouped", "external") and price != "",
    }


def _download_block(record: ProductRecord) -> dict[str, Any]:
    return {
        "virtual": record.virtual,
        "downloadable": record.downloadable,
        "downloads": [dict(d) for d in record.downloads],
        "download_limit": record.download_limit,
        "download_expiry": record.download_expiry,
    }


def _stock_and_shipping(store: StoreState, ctx: RenderContext, record: ProductRecord) -> dict[str, Any]:
    weight, dimensions, tax_class = _inherited(store, ctx, record)
    return {
        "tax_status": record.tax_status,
        "tax_class": tax_class,
        "manage_stock": _manage_stock(store, record),
        "stock_quantity": record.stock_quantity,
        **_backorder_flags(record),
        "low_stock_amount": record.low_stock_amount,
        "sold_individually": record.sold_individually,
        "weight": weight,
        "dimensions": dimensions,
        "shipping_required": not record.virtual,
        "shipping_taxable": not record.virtual and record.tax_status in ("taxable", "shipping"),
        "shipping_class": record.shipping_class,
        "shipping_class_id": 0,
    }


def _taxonomy_block(store: StoreState, ctx: RenderContext, record: ProductRecord) -> dict[str, Any]:
    def terms(ids: list[int], table: dict[int, Any]) -> list[dict[str, Any]]:
        return [{"id": t.id, "name": t.name, "slug": t.slug} for t in (table.get(i) for i in ids) if t]

    images = [image_json(store, ctx, i, full=True) for i in record.image_ids]
    summary = store.variable_summary(record) if record.type == "variable" else None
    return {
        "categories": [] if record.is_variation else terms(record.category_ids, store.categories),
        "brands": [],
        "tags": terms(record.tag_ids, store.tags),
        "images": [i for i in images if i],
        "attributes": _attributes_json(store, record),
        "default_attributes": [
            {"id": 0, "name": _default_label(record, d["key"]), "option": d["value"]} for d in record.default_attributes
        ],
        "variations": summary["variation_ids"] if summary else [],
        "grouped_products": [],
    }


def _default_label(record: ProductRecord, key: str) -> str:
    return next((a["name"] for a in record.attributes if sanitize_title(a["name"]) == key), key)


def _attributes_json(store: StoreState, record: ProductRecord) -> list[dict[str, Any]]:
    if record.is_variation:
        return [
            {"id": 0, "name": _attribute_label(store, record, key), "slug": key, "option": value}
            for key, value in _variation_pairs(store, record)
        ]
    return [
        {
            "id": 0,
            "name": a["name"],
            "slug": a["name"],  # local attributes report their raw name as slug (capture 13)
            "position": a["position"],
            "visible": a["visible"],
            "variation": a["variation"],
            "options": list(a["options"]),
        }
        for a in record.attributes
    ]


# ------------------------------------------------------------------ variations endpoint


def variation_json(store: StoreState, ctx: RenderContext, record: ProductRecord, *, hints: bool = True) -> dict[str, Any]:
    """A variation as /products/{id}/variations answers (captures 14-19)."""
    weight, dimensions, tax_class = _inherited(store, ctx, record)
    price = current_price(record)
    image = image_json(store, ctx, record.image_ids[0], full=False) if record.image_ids else None
    base = f"/products/{record.parent_id}"
    return {
        "id": record.id,
        "type": "variation",
        **_date_fields("date_created", record.date_created),
        **_date_fields("date_modified", record.date_modified),
        "description": record.description if ctx.edit else wpautop(record.description),
        "permalink": variation_permalink(store, ctx, record),
        "sku": record.sku,
        "global_unique_id": record.global_unique_id,
        "price": price,
        "regular_price": record.regular_price,
        "sale_price": record.sale_price,
        **_date_fields("date_on_sale_from", record.date_on_sale_from),
        **_date_fields("date_on_sale_to", record.date_on_sale_to),
        "on_sale": is_on_sale(record),
        "status": record.status,
        "purchasable": price != "",
        **_download_block(record),
        "tax_status": record.tax_status,
        "tax_class": tax_class,
        "manage_stock": _manage_stock(store, record),
        "stock_quantity": record.stock_quantity,
        "stock_status": record.stock_status,
        **_backorder_flags(record),
        "low_stock_amount": record.low_stock_amount,
        "weight": weight,
        "dimensions": dimensions,
        "shipping_class": record.shipping_class,
        "shipping_class_id": 0,
        "image": image,
        "gallery_image_ids": list(record.gallery_image_ids),
        "attributes": _attributes_json(store, record),
        "menu_order": record.menu_order,
        "meta_data": _meta(ctx, record),
        "name": variation_short_name(store, record),
        "parent_id": record.parent_id,
        "_links": _links(ctx, f"{base}/variations/{record.id}", f"{base}/variations", base, hints=hints),
    }


# ------------------------------------------------------------------ media (wp/v2) and settings


def media_json(ctx: RenderContext, item: MediaItem) -> dict[str, Any]:
    """An attachment as `POST /wp/v2/media` answers (capture 55), edit context."""
    url = upload_url(ctx, item)
    date = wp_date(item.date_created)
    media_type = "image" if item.is_image else "file"
    size = f' width="{item.width}" height="{item.height}"' if item.width else ""
    return {
        "id": item.id,
        "date": date,
        "date_gmt": date,
        "guid": {"rendered": url, "raw": url},
        "modified": date,
        "modified_gmt": date,
        "slug": item.slug,
        "status": "inherit",
        "type": "attachment",
        "link": f"{ctx.site}/{item.slug}/",
        "title": {"raw": item.title, "rendered": item.title},
        "author": 1,
        "featured_media": 0,
        "comment_status": "open",
        "ping_status": "closed",
        "template": "",
        "meta": [],
        "permalink_template": f"{ctx.site}/?attachment_id={item.id}",
        "generated_slug": item.slug,
        "class_list": [f"post-{item.id}", "attachment", "type-attachment", "status-inherit", "hentry"],
        "description": {
            "raw": "",
            "rendered": f"<p class=\"attachment\"><a href='{url}'><img loading=\"lazy\" decoding=\"async\"{size} "
            f'src="{url}" class="attachment-medium size-medium" alt="{item.alt}" /></a></p>\n'
            if item.is_image
            else f"<p class=\"attachment\"><a href='{url}'>{item.title}</a></p>\n",
        },
        "caption": {"raw": "", "rendered": ""},
        "alt_text": item.alt,
        "media_type": media_type,
        "mime_type": item.mime_type,
        "media_details": _media_details(item),
        "post": item.parent_id or None,
        "source_url": url,
        "missing_image_sizes": [],
        "filename": item.filename,
        "filesize": item.filesize,
        "exif_orientation": 1,
        "_links": _media_links(ctx, item),
    }


def _media_details(item: MediaItem) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if item.width:
        details.update({"width": item.width, "height": item.height})
    details.update({"file": item.file, "filesize": item.filesize, "sizes": {}})
    if item.is_image:
        details["image_meta"] = {
            "aperture": "0", "credit": "", "camera": "", "caption": "", "created_timestamp": "0",
            "copyright": "", "focal_length": "0", "iso": "0", "shutter_speed": "0", "title": "",
            "orientation": "0", "keywords": [], "alt": "",
        }  # fmt: skip
    return details


def _media_links(ctx: RenderContext, item: MediaItem) -> dict[str, Any]:
    base = f"{ctx.site}/wp-json/wp/v2"
    return {
        "self": [{"href": f"{base}/media/{item.id}", "targetHints": {"allow": list(ALL_METHODS)}}],
        "collection": [{"href": f"{base}/media"}],
        "about": [{"href": f"{base}/types/attachment"}],
        "author": [{"embeddable": True, "href": f"{base}/users/1"}],
        "replies": [{"embeddable": True, "href": f"{base}/comments?post={item.id}"}],
        "wp:action-unfiltered-html": [{"href": f"{base}/media/{item.id}"}],
        "wp:action-assign-author": [{"href": f"{base}/media/{item.id}"}],
        "curies": [{"name": "wp", "href": "https://api.w.org/{rel}", "templated": True}],
    }


WEIGHT_UNITS = {"kg": "kg", "g": "g", "lbs": "lbs", "oz": "oz"}
DIMENSION_UNITS = {"m": "m", "cm": "cm", "mm": "mm", "in": "in", "yd": "yd"}


def product_settings(store: StoreState) -> dict[str, dict[str, Any]]:
    """The product settings the simulator knows (captures 48-50), keyed by id, without links.

    The captured store reports its own unit as `default` (lbs/in), so `default` mirrors `value`.
    """
    weight_tip = "This controls what unit you will define weights in."
    length_tip = "This controls what unit you will define lengths in."
    return {
        "woocommerce_weight_unit": {
            "id": "woocommerce_weight_unit", "label": "Weight unit", "description": weight_tip,
            "type": "select", "default": store.weight_unit, "options": dict(WEIGHT_UNITS),
            "tip": weight_tip, "value": store.weight_unit, "group_id": "products",
        },
        "woocommerce_dimension_unit": {
            "id": "woocommerce_dimension_unit", "label": "Dimensions unit", "description": length_tip,
            "type": "select", "default": store.dimension_unit, "options": dict(DIMENSION_UNITS),
            "tip": length_tip, "value": store.dimension_unit, "group_id": "products",
        },
        "woocommerce_manage_stock": {
            "id": "woocommerce_manage_stock", "label": "Manage stock", "description": "Enable stock management",
            "type": "checkbox", "default": "yes", "value": store.manage_stock_option, "group_id": "products",
        },
    }  # fmt: skip


def setting_json(ctx: RenderContext, setting: dict[str, Any]) -> dict[str, Any]:
    base = f"{ctx.site}{API}/settings/products"
    return {
        **setting,
        "_links": {
            "self": [{"href": f"{base}/{setting['id']}", "targetHints": {"allow": ["GET", "POST", "PUT", "PATCH"]}}],
            "collection": [{"href": base}],
        },
    }
