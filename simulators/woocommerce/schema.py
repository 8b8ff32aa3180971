"""Route argument schemas and WordPress's argument validation (`WP_REST_Request::has_valid_params`).

The schemas are the ones the store published (capture 00, `GET /wp-json/wc/v3`), in the same
order: WordPress checks arguments in that order and lists failures in it (capture 08). Only the
rules WordPress applies are ported (`rest_validate_value_from_schema`): types (with PHP's loose
readings: "7" is an integer, "true" a boolean, a string is an array), enums, numeric bounds and
the date-time format. A `null` argument is never validated, as in WordPress.
"""

from __future__ import annotations

from typing import Any

from simulators.woocommerce.errors import WCError
from simulators.woocommerce.wp import is_numeric, natural_list, parse_rest_date

Schema = dict[str, Any]

S: Schema = {"type": "string"}
I: Schema = {"type": "integer"}  # noqa: E741 - one letter per JSON type (S, I, B ...) keeps the tables readable
B: Schema = {"type": "boolean"}
DT: Schema = {"type": ["null", "string"]}  # WooCommerce rewrites "date-time" to this (WP 5.5 fix).
MIXED: Schema = {"type": ["null", "object", "string", "number", "boolean", "integer", "array"]}
NULLABLE_INT: Schema = {"type": ["integer", "null"]}


def enum(*values: str) -> Schema:
    """A string argument restricted to `values`."""
    return {"type": "string", "enum": list(values)}


def arr(items: Schema) -> Schema:
    """An array argument whose items follow `items`."""
    return {"type": "array", "items": items}


def obj(**properties: Schema) -> Schema:
    """An object argument with the given properties (others are allowed and ignored)."""
    return {"type": "object", "properties": properties}


POST_STATUSES = ("draft", "pending", "private", "publish", "future", "auto-draft", "trash")
PRODUCT_TYPES = ("simple", "grouped", "external", "variable")
STOCK_STATUSES = ("instock", "outofstock", "onbackorder")
_TERM = obj(id=I, name=S, slug=S)
_IMAGE = obj(
    id=I, date_created=DT, date_created_gmt=DT, date_modified=DT, date_modified_gmt=DT, src=S, name=S, alt=S
)
_DIMENSIONS = obj(length=S, width=S, height=S)
_META = arr(obj(id=I, key=S, value=MIXED))
_DOWNLOADS = arr(obj(id=S, name=S, file=S))
_SALE_DATES = {
    "date_on_sale_from": DT,
    "date_on_sale_from_gmt": DT,
    "date_on_sale_to": DT,
    "date_on_sale_to_gmt": DT,
}

PRODUCT_WRITE_ARGS: dict[str, Schema] = {
    "name": S,
    "slug": S,
    "date_created": DT,
    "date_created_gmt": DT,
    "type": enum(*PRODUCT_TYPES),
    "status": enum(*POST_STATUSES),
    "featured": B,
    "catalog_visibility": enum("visible", "catalog", "search", "hidden"),
    "description": S,
    "short_description": S,
    "sku": S,
    "global_unique_id": S,
    "regular_price": S,
    "sale_price": S,
    **_SALE_DATES,
    "virtual": B,
    "downloadable": B,
    "downloads": _DOWNLOADS,
    "download_limit": I,
    "download_expiry": I,
    "external_url": S,
    "button_text": S,
    "tax_status": enum("taxable", "shipping", "none"),
    "tax_class": S,
    "manage_stock": B,
    "stock_quantity": I,
    "stock_status": enum(*STOCK_STATUSES),
    "backorders": enum("no", "notify", "yes"),
    "low_stock_amount": NULLABLE_INT,
    "sold_individually": B,
    "weight": S,
    "dimensions": _DIMENSIONS,
    "shipping_class": S,
    "reviews_allowed": B,
    "post_password": S,
    "upsell_ids": arr(I),
    "cross_sell_ids": arr(I),
    "parent_id": I,
    "purchase_note": S,
    "categories": arr(_TERM),
    "brands": arr(_TERM),
    "tags": arr(_TERM),
    "images": arr(_IMAGE),
    "attributes": arr(obj(id=I, name=S, position=I, visible=B, variation=B, options=arr(S))),
    "default_attributes": arr(obj(id=I, name=S, option=S)),
    "menu_order": I,
    "meta_data": _META,
}
PRODUCT_UPDATE_ARGS: dict[str, Schema] = {"id": I, **PRODUCT_WRITE_ARGS}

VARIATION_WRITE_ARGS: dict[str, Schema] = {
    "product_id": I,
    "description": S,
    "sku": S,
    "global_unique_id": S,
    "regular_price": S,
    "sale_price": S,
    **_SALE_DATES,
    "status": enum("draft", "pending", "private", "publish"),
    "virtual": B,
    "downloadable": B,
    "downloads": _DOWNLOADS,
    "download_limit": I,
    "download_expiry": I,
    "tax_status": enum("taxable", "shipping", "none"),
    "tax_class": S,
    "manage_stock": {"type": ["boolean", "string"]},
    "stock_quantity": I,
    "stock_status": enum(*STOCK_STATUSES),
    "backorders": enum("no", "notify", "yes"),
    "low_stock_amount": NULLABLE_INT,
    "weight": S,
    "dimensions": _DIMENSIONS,
    "shipping_class": S,
    "image": _IMAGE,
    "gallery_image_ids": arr({"type": "integer", "minimum": 1}),
    "attributes": arr(obj(id=I, name=S, option=S)),
    "menu_order": I,
    "meta_data": _META,
}
VARIATION_UPDATE_ARGS: dict[str, Schema] = {
    "product_id": I,
    "id": I,
    **{k: v for k, v in VARIATION_WRITE_ARGS.items() if k != "product_id"},
}

_DATE_ARG: Schema = {"type": "string", "format": "date-time"}
_LIST_COMMON: dict[str, Schema] = {
    "context": enum("view", "edit"),
    "page": {"type": "integer", "minimum": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
    "search": S,
    "after": _DATE_ARG,
    "before": _DATE_ARG,
    "modified_after": _DATE_ARG,
    "modified_before": _DATE_ARG,
    "dates_are_gmt": B,
    "exclude": arr(I),
    "include": arr(I),
    "offset": I,
    "order": enum("asc", "desc"),
}
PRODUCT_LIST_ARGS: dict[str, Schema] = {
    **_LIST_COMMON,
    # The store's enum really lists some values twice; WordPress prints them all.
    "orderby": enum(
        "date", "id", "include", "title", "slug", "modified", "popularity", "rating", "post__in",
        "price", "sales", "menu_order", "random", "popularity", "rating", "menu_order", "price",
        "popularity", "rating",
    ),
    "parent": arr(I),
    "parent_exclude": arr(I),
    "slug": S,
    "status": enum("any", "future", "trash", "draft", "pending", "private", "publish"),
    "type": enum(*PRODUCT_TYPES),
    "sku": S,
    "featured": B,
    "on_sale": B,
    "include_meta": arr(S),
    "exclude_meta": arr(S),
    "stock_status": enum(*STOCK_STATUSES),
    "search_sku": S,
    "include_status": arr(enum("any", "future", "trash", "draft", "pending", "private", "publish")),
    "exclude_status": arr(enum("future", "trash", "draft", "pending", "private", "publish")),
    "include_types": arr(enum(*PRODUCT_TYPES)),
    "exclude_types": arr(enum(*PRODUCT_TYPES)),
    "downloadable": B,
    "virtual": B,
}
VARIATION_LIST_ARGS: dict[str, Schema] = {
    "product_id": I,
    **_LIST_COMMON,
    "orderby": enum("date", "id", "include", "title", "slug", "modified", "menu_order"),
    "parent": arr(I),
    "parent_exclude": arr(I),
    "slug": S,
    "status": enum("any", "future", "trash", "draft", "pending", "private", "publish"),
    "sku": S,
    "on_sale": B,
    "include_meta": arr(S),
    "exclude_meta": arr(S),
    "stock_status": enum(*STOCK_STATUSES),
    "include_status": arr(enum("any", "future", "trash", "draft", "pending", "private", "publish")),
    "exclude_status": arr(enum("future", "trash", "draft", "pending", "private", "publish")),
    "virtual": B,
    "downloadable": B,
}
DELETE_ARGS: dict[str, Schema] = {"id": I, "force": B}
CONTEXT_ARGS: dict[str, Schema] = {"id": I, "context": enum("view", "edit")}


# ------------------------------------------------------------------ type tests (PHP semantics)


def is_integer(value: Any) -> bool:
    """`rest_is_integer`: numeric and equal to its rounding ("7" yes, 5.5 no, true no)."""
    if not is_numeric(value):
        return False
    number = float(value)
    return round(number) == number


def is_boolean(value: Any) -> bool:
    """`rest_is_boolean`: bools, 0/1 and the strings "true", "false", "1", "0", ""."""
    if isinstance(value, bool):
        return True
    if isinstance(value, str):
        return value.lower() in ("true", "false", "1", "0", "")
    return isinstance(value, int) and value in (0, 1)


def parse_list(value: Any) -> list[Any] | None:
    """`rest_is_array` + `wp_parse_list`: scalars split on commas/spaces; dicts are not lists."""
    if isinstance(value, list):
        return value
    if isinstance(value, (str, int, float, bool)):
        text = value if isinstance(value, str) else str(value)
        return [part for part in text.replace(",", " ").split() if part]
    return None


def _is_type(value: Any, type_name: str) -> bool:
    checks = {
        "array": lambda v: parse_list(v) is not None,
        "object": lambda v: v == "" or isinstance(v, (dict, list)),
        "integer": is_integer,
        "number": is_numeric,
        "boolean": is_boolean,
        "string": lambda v: isinstance(v, str),
        "null": lambda v: v is None,
    }
    return checks[type_name](value)


def _best_type(value: Any, types: list[str]) -> str | None:
    """`rest_get_best_type_for_value`: the first listed type the value satisfies."""
    if value == "" and "string" in types:
        return "string"
    return next((t for t in types if _is_type(value, t)), None)


# ------------------------------------------------------------------ validation


class _Invalid(Exception):
    def __init__(self, code: str, message: str, param: str | None) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.data = {"param": param} if param is not None else None


def _check(value: Any, schema: Schema, param: str) -> None:
    """Raise `_Invalid` as `rest_validate_value_from_schema` would return a WP_Error."""
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared] if declared else []
    kind = _best_type(value, types) if types else None
    if types and kind is None:
        raise _Invalid("rest_invalid_type", f"{param} is not of type {','.join(types)}.", param)
    if kind == "array" and "items" in schema:
        for index, item in enumerate(parse_list(value) or []):
            _check(item, schema["items"], f"{param}[{index}]")
    if kind == "object" and isinstance(value, dict):
        for key, item in value.items():
            if key in schema.get("properties", {}):
                _check(item, schema["properties"][key], f"{param}[{key}]")
    if kind in ("integer", "number"):
        _check_bounds(float(value), schema, param)
    if schema.get("enum") and not _in_enum(value, schema["enum"]):
        values = schema["enum"]
        text = f"{param} is not {values[0]}." if len(values) == 1 else f"{param} is not one of {natural_list(values)}."
        raise _Invalid("rest_not_in_enum", text, None)
    if schema.get("format") == "date-time" and kind == "string" and parse_rest_date(value) is None:
        raise _Invalid("rest_invalid_date", "Invalid date.", None)


def _in_enum(value: Any, values: list[Any]) -> bool:
    return any(value == candidate for candidate in values)


def _check_bounds(number: float, schema: Schema, param: str) -> None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None and not low <= number <= high:
        raise _Invalid("rest_out_of_bounds", f"{param} must be between {low} (inclusive) and {high} (inclusive)", None)
    if low is not None and high is None and number < low:
        raise _Invalid("rest_out_of_bounds", f"{param} must be greater than or equal to {low}", None)
    if high is not None and low is None and number > high:
        raise _Invalid("rest_out_of_bounds", f"{param} must be less than or equal to {high}", None)


def validate_args(args: dict[str, Schema], params: dict[str, Any]) -> None:
    """Check `params` against `args`; raise the 400 `rest_invalid_param` WordPress sends.

    Every failing argument is reported, in the order of `args`; `null` values are skipped.
    """
    messages: dict[str, str] = {}
    details: dict[str, Any] = {}
    for name, schema in args.items():
        value = params.get(name)
        if value is None:
            continue
        try:
            _check(value, schema, name)
        except _Invalid as exc:
            messages[name] = exc.message
            details[name] = {"code": exc.code, "message": exc.message, "data": exc.data}
    if messages:
        raise WCError(
            "rest_invalid_param",
            "Invalid parameter(s): " + ", ".join(messages),
            400,
            {"params": messages, "details": details},
        )
