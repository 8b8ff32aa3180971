"""Zoho item and item group JSON → CatalogItem, CatalogGroup.

Zoho's types are loose (numbers as numbers or strings, "" for unset, package fields flattened
on list rows but nested under `package_details` on details), so every field is read leniently.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.catalog.types import CatalogGroup, CatalogItem, ImageRef, PlaceStock

# List rows that lack any of these need /itemdetails before description or package data is used.
DETAIL_ONLY_FIELDS = ("description", "weight", "length")
# What a group's `items[]` rows leave to the group: copied onto each before it is read as an item.
GROUP_ITEM_FIELDS = ("group_id", "group_name", "product_type", "unit", "attribute_name1", "attribute_name2",
                     "attribute_name3")
PACKAGE_FIELDS = ("length", "width", "height", "weight", "weight_unit", "dimension_unit")


def to_decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_time(value: Any) -> datetime | None:
    """Zoho times look like 2026-10-19T17:25:44+0530 (the organization's offset, no colon)."""
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return datetime.strptime(str(value), fmt)
        except ValueError:
            continue
    return None


def parse_item(row: dict[str, Any]) -> CatalogItem:
    package = _package(row)
    return CatalogItem(
        zoho_item_id=str(row.get("item_id") or ""),
        name=str(row.get("name") or row.get("item_name") or ""),
        sku=(str(row.get("sku") or "").strip() or None),
        description=str(row.get("description") or ""),
        price=to_decimal(row.get("rate")),
        active=str(row.get("status") or "active").lower() == "active",
        tracks_stock=_tracks_stock(row),
        available_stock=to_decimal(row.get("available_stock", row.get("stock_on_hand"))),
        actual_available_stock=to_decimal(row.get("actual_available_stock", row.get("available_stock"))),
        stock_by_place=_places(row),
        reorder_level=to_decimal(row.get("reorder_level")),
        weight=to_decimal(package.get("weight")),
        weight_unit=(str(package.get("weight_unit") or "").lower() or None),
        length=to_decimal(package.get("length")),
        width=to_decimal(package.get("width")),
        height=to_decimal(package.get("height")),
        dimension_unit=(str(package.get("dimension_unit") or "").lower() or None),
        group_id=(str(row.get("group_id") or "") or None),
        group_name=(str(row.get("group_name") or "") or None),
        attributes=_attributes(row),
        image=_image(row),
        last_modified=parse_time(row.get("last_modified_time")),
        partial=not all(field in row or field in package for field in DETAIL_ONLY_FIELDS),
    )


def _package(row: dict[str, Any]) -> dict[str, Any]:
    nested = row.get("package_details")
    flat = {key: row[key] for key in PACKAGE_FIELDS if key in row}
    return {**flat, **nested} if isinstance(nested, dict) else flat


def _tracks_stock(row: dict[str, Any]) -> bool:
    if row.get("product_type") == "service" or row.get("item_type") in ("sales", "purchases", "sales_and_purchases"):
        return False
    return row.get("track_inventory", True) is not False


def _attributes(row: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(attribute, option) per used slot; an attribute without an option keeps "" so that the
    planner can refuse the variant instead of letting the store make it "any"."""
    pairs = []
    for slot in (1, 2, 3):
        name, option = row.get(f"attribute_name{slot}"), row.get(f"attribute_option_name{slot}")
        if name:
            pairs.append((str(name).strip(), str(option if option is not None else "").strip()))
    return tuple(pairs)


def _image(row: dict[str, Any]) -> ImageRef | None:
    document_id = str(row.get("image_document_id") or "")
    name = str(row.get("image_name") or "")
    if not document_id and not name:
        return None
    kind = str(row.get("image_type") or "").lower()
    return ImageRef(document_id=document_id, name=name, content_type=f"image/{kind}" if kind else "")


def _places(row: dict[str, Any]) -> tuple[PlaceStock, ...]:
    """Stock per place: `locations[]` on organizations with Locations, else legacy
    `warehouses[]`. Where both appear they describe the same places, so only one is read."""
    places = []
    locations = row.get("locations") if isinstance(row.get("locations"), list) else []
    prefix, rows = ("location", locations) if locations else ("warehouse", row.get("warehouses"))
    for place in rows if isinstance(rows, list) else []:
        places.append(PlaceStock(
            place_id=str(place.get(f"{prefix}_id") or ""),
            name=str(place.get(f"{prefix}_name") or ""),
            available=to_decimal(place.get(f"{prefix}_available_stock")),
            actual_available=to_decimal(place.get(f"{prefix}_actual_available_stock")),
        ))
    return tuple(places)


def parse_group(row: dict[str, Any], *, with_items: bool = False) -> CatalogGroup:
    """An item group (`GET /itemgroups` row or `item_group`). Its image is downloaded through
    the first of its items that carries the same document (Zoho documents no download for a
    group's own image); with `with_items`, its items are read too, completed from the group."""
    rows = [r for r in row.get("items") or [] if isinstance(r, dict)]
    image = _image({"image_document_id": row.get("image_document_id") or row.get("image_id"),
                    "image_name": row.get("image_name"), "image_type": row.get("image_type")})
    carrier = next((str(r.get("item_id")) for r in rows if image and r.get("item_id")
                    and str(r.get("image_document_id") or "") == image.document_id), None)
    return CatalogGroup(
        group_id=str(row.get("group_id") or ""),
        name=str(row.get("group_name") or ""),
        description=str(row.get("description") or ""),
        image=image if carrier else None,
        image_item_id=carrier,
        items=tuple(_group_item(r, row) for r in rows) if with_items else (),
    )


def _group_item(row: dict[str, Any], group: dict[str, Any]) -> CatalogItem:
    """A variant as its group lists it. Its description is not asked for (a variation shows
    none; the parent's is the group's), so only missing package fields make it partial."""
    item = parse_item({**{k: group.get(k) for k in GROUP_ITEM_FIELDS if group.get(k)}, **row})
    complete = all(field in row for field in ("weight", "length")) or isinstance(row.get("package_details"), dict)
    return replace(item, partial=not complete)
