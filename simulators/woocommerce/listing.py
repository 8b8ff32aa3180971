"""Collection queries: GET /products and GET /products/{id}/variations.

The parameters have been validated against the route schema before they get here (strings from
the query string are still strings). Filters and ordering follow `prepare_objects_query` of the
v3 controllers:
- a plain listing returns parent products only; `sku` and `search_sku` add variations;
- `sku` is exact, case-insensitive, a comma list whose pieces are *not* trimmed, and the whole
  string also counts as one SKU ("A, B" finds "A" and a product whose SKU is literally "A, B");
- `status=any` (the default) means everything but trash and auto-drafts;
- ordering defaults to date desc with the id as tiebreak in the same direction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from simulators.woocommerce.records import ProductRecord
from simulators.woocommerce.schema import is_boolean, parse_list
from simulators.woocommerce.state import StoreState, is_on_sale
from simulators.woocommerce.wp import intval, is_numeric, parse_rest_date, wc_clean

Predicate = Callable[[ProductRecord], bool]


def select(store: StoreState, params: dict[str, Any], *, variations_of: int | None = None) -> list[ProductRecord]:
    """All records matching the filters, in the requested order (not paged)."""
    with store.lock:
        records = _candidates(store, params, variations_of)
        for predicate in _predicates(store, params):
            records = [r for r in records if predicate(r)]
        return _ordered(store, records, params)


def paginate(records: list[ProductRecord], params: dict[str, Any]) -> tuple[list[ProductRecord], int, int]:
    """(page of records, X-WP-Total, X-WP-TotalPages); a page past the end is empty."""
    per_page = intval(params.get("per_page", 10)) if params.get("per_page") is not None else 10
    page = intval(params.get("page", 1)) if params.get("page") is not None else 1
    start = intval(params["offset"]) if params.get("offset") is not None else (page - 1) * per_page
    total = len(records)
    return records[start : start + per_page], total, math.ceil(total / per_page) if per_page else 0


def _candidates(store: StoreState, params: dict[str, Any], variations_of: int | None) -> list[ProductRecord]:
    if variations_of is not None:
        return [r for r in store.products.values() if r.is_variation and r.parent_id == variations_of]
    with_variations = bool(params.get("sku") or params.get("search_sku"))
    return [r for r in store.products.values() if with_variations or not r.is_variation]


def _predicates(store: StoreState, params: dict[str, Any]) -> list[Predicate]:
    predicates = [_status_filter(params)]
    predicates += _id_filters(params)
    predicates += _text_filters(params)
    predicates += _flag_filters(store, params)
    predicates += _date_filters(params)
    types = _type_filter(params)
    if types is not None:
        predicates.append(types)
    return predicates


def _status_filter(params: dict[str, Any]) -> Predicate:
    included = parse_list(params.get("include_status")) or [params.get("status") or "any"]
    excluded = set(parse_list(params.get("exclude_status")) or [])
    if "any" in included:
        return lambda r: r.status not in ("trash", "auto-draft") and r.status not in excluded
    wanted = set(included) - excluded
    return lambda r: r.status in wanted


def _type_filter(params: dict[str, Any]) -> Predicate | None:
    wanted = set(parse_list(params.get("include_types")) or [])
    if params.get("type"):
        wanted = {params["type"]}
    excluded = set(parse_list(params.get("exclude_types")) or [])
    if not wanted and not excluded:
        return None
    return lambda r: (not wanted or r.type in wanted) and r.type not in excluded


def _id_list(value: Any) -> list[int]:
    return [intval(v) for v in parse_list(value) or []]


def _id_filters(params: dict[str, Any]) -> list[Predicate]:
    predicates: list[Predicate] = []
    include, exclude = _id_list(params.get("include")), _id_list(params.get("exclude"))
    parents, parent_exclude = _id_list(params.get("parent")), _id_list(params.get("parent_exclude"))
    if include:
        predicates.append(lambda r: r.id in include)
    if exclude:
        predicates.append(lambda r: r.id not in exclude)
    if parents:
        predicates.append(lambda r: r.parent_id in parents)
    if parent_exclude:
        predicates.append(lambda r: r.parent_id not in parent_exclude)
    return predicates


def _text_filters(params: dict[str, Any]) -> list[Predicate]:
    predicates: list[Predicate] = []
    if params.get("sku"):
        whole = wc_clean(params["sku"])
        pieces = [p for p in whole.split(",") if p] + ([whole] if "," in whole else [])
        wanted = {p.casefold() for p in pieces}
        predicates.append(lambda r: r.sku != "" and r.sku.casefold() in wanted)
    if params.get("search_sku"):
        needle = str(params["search_sku"]).casefold()
        predicates.append(lambda r: needle in r.sku.casefold())
    if params.get("search"):
        term = str(params["search"]).casefold()
        predicates.append(lambda r: any(term in text.casefold() for text in (r.name, r.description, r.short_description)))
    if params.get("slug"):
        slugs = set(str(params["slug"]).split(","))
        predicates.append(lambda r: r.slug in slugs)
    return predicates


def _truthy(value: Any) -> bool:
    return is_boolean(value) and str(value).lower() in ("true", "1")


def _flag_filters(store: StoreState, params: dict[str, Any]) -> list[Predicate]:
    predicates: list[Predicate] = []
    for name in ("featured", "downloadable", "virtual"):
        if params.get(name) is not None and params.get(name) != "":
            flag = _truthy(params[name])
            predicates.append(lambda r, name=name, flag=flag: getattr(r, name) == flag)
    if params.get("on_sale") is not None and params.get("on_sale") != "":
        flag = _truthy(params["on_sale"])
        predicates.append(lambda r: is_on_sale(r) == flag)
    if params.get("stock_status"):
        wanted = params["stock_status"]
        predicates.append(lambda r: store.effective_stock_status(r) == wanted)
    return predicates


def _date_filters(params: dict[str, Any]) -> list[Predicate]:
    predicates: list[Predicate] = []
    for name, attr, later in (
        ("after", "date_created", True),
        ("before", "date_created", False),
        ("modified_after", "date_modified", True),
        ("modified_before", "date_modified", False),
    ):
        moment = parse_rest_date(params.get(name))
        if moment is None:
            continue
        if later:
            predicates.append(lambda r, attr=attr, moment=moment: getattr(r, attr) > moment)
        else:
            predicates.append(lambda r, attr=attr, moment=moment: getattr(r, attr) < moment)
    return predicates


def _ordered(store: StoreState, records: list[ProductRecord], params: dict[str, Any]) -> list[ProductRecord]:
    orderby = params.get("orderby") or "date"
    descending = (params.get("order") or "desc") == "desc"
    if orderby in ("include", "post__in"):
        include = _id_list(params.get("include"))
        return sorted(records, key=lambda r: include.index(r.id) if r.id in include else len(include))
    if orderby == "random":
        shuffled = list(records)
        store.knobs.rng.shuffle(shuffled)
        return shuffled
    key = _sort_keys(store).get(orderby, _sort_keys(store)["date"])
    return sorted(records, key=lambda r: (key(r), r.id), reverse=descending)


def _sort_keys(store: StoreState) -> dict[str, Callable[[ProductRecord], Any]]:
    def price(record: ProductRecord) -> float:
        value = store.effective_price(record)
        return float(value) if is_numeric(value) else 0.0

    return {
        "date": lambda r: r.date_created,
        "modified": lambda r: r.date_modified,
        "id": lambda r: 0,
        "title": lambda r: r.name.casefold(),
        "slug": lambda r: r.slug,
        "menu_order": lambda r: r.menu_order,
        "price": price,
        "popularity": lambda r: r.total_sales,
        "sales": lambda r: r.total_sales,
        "rating": lambda r: 0,
    }
