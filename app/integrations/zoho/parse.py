"""Zoho item JSON → CatalogItem.

Zoho's types are loose (numbers as numbers or strings, "" for unset, package fields flattened
on list rows but nested under `package_details` on details), so every field is read leniently.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.catalog.types import CatalogItem, ImageRef, PlaceStock

# List rows that lack any of these need /itemdetails before description or package data is used.
DETAIL_ONLY_FIELDS = ("description", "weight", "length")
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
