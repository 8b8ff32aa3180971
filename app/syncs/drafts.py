"""From a Zoho item to the exact content the store should hold, and the hash of that content.

The draft holds only the fields the connection syncs (its `sync_fields`), already converted to
the store's units; its hash, stored with the product link, is what makes an unchanged product
cost no write.
"""

from __future__ import annotations

import hashlib
import json
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from app.catalog.types import CatalogItem, StoreSettings
from app.connections.schemas import ConnectionSettings

# Factors to one base unit per kind: grams and millimetres.
WEIGHT_IN_GRAMS = {"g": Decimal(1), "kg": Decimal(1000), "lb": Decimal("453.59237"), "lbs": Decimal("453.59237"),
                   "oz": Decimal("28.349523125")}
LENGTH_IN_MM = {"mm": Decimal(1), "cm": Decimal(10), "m": Decimal(1000), "in": Decimal("25.4"),
                "ft": Decimal("304.8"), "yd": Decimal("914.4")}
MEASURE_PLACES = Decimal("0.0001")


class UnitError(ValueError):
    """A unit we cannot convert; the item is skipped with this reason."""


def build_draft(item: CatalogItem, *, settings: ConnectionSettings, store: StoreSettings) -> dict[str, Any]:
    """The store fields for a simple product, limited to the connection's toggles (SKU always).
    Images are named by their Zoho identity (`ImageRef.key`); the writer swaps in media ids."""
    fields = set(settings.sync_fields)
    draft: dict[str, Any] = {"sku": item.sku, "zoho_item_id": item.zoho_item_id}
    if "name" in fields:
        draft["name"] = item.name
    if "description" in fields:
        draft["description"] = item.description
    if "images" in fields:
        # Zoho serves an item's primary image only (other documents have no documented download).
        draft["images"] = [item.image.key(item.zoho_item_id)] if item.image else []
    draft.update(_offer_fields(item, settings=settings, store=store))
    return draft


def variation_draft(item: CatalogItem, *, settings: ConnectionSettings, store: StoreSettings) -> dict[str, Any]:
    """A variant's fields: what a simple product has minus name and description (the store
    names variations after their options), plus its options and its own image."""
    fields = set(settings.sync_fields)
    draft: dict[str, Any] = {"kind": "variation", "sku": item.sku, "zoho_item_id": item.zoho_item_id,
                             "status": "publish", "attributes": [{"name": n, "option": o} for n, o in item.attributes]}
    if "images" in fields:
        draft["image"] = item.image.key(item.zoho_item_id) if item.image else None
    draft.update(_offer_fields(item, settings=settings, store=store))
    return draft


def parent_draft(group_name: str, description: str, members: list[CatalogItem], *,
                 settings: ConnectionSettings, image: str | None = None) -> dict[str, Any]:
    """An item group's variable product: every attribute with the options its active variants
    use (in order of first use), flagged `variation: true` by the mapping so the store keeps
    the variations' options. Images: the group's own (`image`, a key) featured, then the
    variants' as the gallery; without a group image, the first variant's is featured."""
    fields = set(settings.sync_fields)
    options: dict[str, list[str]] = {}
    for member in members:
        for name, option in member.attributes:
            if option not in options.setdefault(name, []):
                options[name].append(option)
    draft: dict[str, Any] = {"kind": "variable",
                             "attributes": [{"name": name, "options": values} for name, values in options.items()]}
    if "name" in fields:
        draft["name"] = group_name
    if "description" in fields:
        draft["description"] = description
    if "images" in fields:
        keys = list(dict.fromkeys([image] if image else []) | dict.fromkeys(
            m.image.key(m.zoho_item_id) for m in members if m.image))
        draft["images"] = keys if "gallery" in fields else keys[:1]
    return draft


def retire_draft(settings: ConnectionSettings, *, free_sku: bool = False) -> dict[str, Any]:
    """A variation (or product) Zoho no longer offers there: out of stock and, by default,
    private; never deleted. `free_sku` also clears its SKU, for when the same Zoho item now
    needs that SKU elsewhere in the store (SKUs are unique across products and variations)."""
    draft: dict[str, Any] = {"retire": settings.retired_variations}
    if free_sku:
        draft["sku"] = ""
    return draft


def _offer_fields(item: CatalogItem, *, settings: ConnectionSettings, store: StoreSettings) -> dict[str, Any]:
    fields = set(settings.sync_fields)
    draft: dict[str, Any] = {}
    if "price" in fields:
        draft["price"] = format_price(item.price)
    if "stock" in fields:
        draft["stock"] = stock_quantity(item, settings)
    if "low_stock" in fields:
        draft["low_stock"] = int(item.reorder_level) if item.reorder_level is not None else None
    if "weight" in fields:
        draft["weight"] = convert(item.weight, item.weight_unit, store.weight_unit, WEIGHT_IN_GRAMS, "weight")
    if "dimensions" in fields:
        draft["dimensions"] = {
            axis: convert(value, item.dimension_unit, store.dimension_unit, LENGTH_IN_MM, "dimension")
            for axis, value in (("length", item.length), ("width", item.width), ("height", item.height))
        }
    return draft


def creation_fields(item: CatalogItem, *, settings: ConnectionSettings) -> dict[str, Any]:
    """What a new product needs beyond the draft: its status, and a name even when names are
    not synced (a nameless product is of no use to anyone)."""
    return {"status": settings.new_product_status, "name": item.name}


def parent_sku(group_id: str) -> str:
    """The SKU a variable product we create carries. Zoho groups have no SKU; a fixed one lets
    a create that is retried after a crash find the product it made instead of making another.
    A variable product that already exists keeps its own SKU."""
    return f"zoho-group-{group_id}"


def parent_creation_fields(group_id: str, group_name: str, *, settings: ConnectionSettings) -> dict[str, Any]:
    return {"status": settings.new_product_status, "name": group_name, "sku": parent_sku(group_id)}


def content_hash(draft: dict[str, Any]) -> str:
    canonical = json.dumps(draft, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def format_price(price: Decimal | None) -> str:
    """Plain decimal string with at least two places ("5" → "5.00", "1.255" kept); "" when unset."""
    if price is None:
        return ""
    if price.as_tuple().exponent >= -2:  # type: ignore[operator]  # exponent is a str only for NaN and infinities, never here
        price = price.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return format(price, "f")


def stock_quantity(item: CatalogItem, settings: ConnectionSettings) -> int | None:
    """The stock figure the connection counts, as a whole number; None when Zoho does not
    track the item's stock. With `warehouse_ids`, the sum over those warehouses or locations
    (one the item is not stocked in counts as 0); without, the organization's total."""
    if not item.tracks_stock:
        return None
    actual = settings.stock_figure == "actual_available"
    figure: Decimal | None
    if settings.warehouse_ids:
        wanted = set(settings.warehouse_ids)
        places = [p for p in item.stock_by_place if p.place_id in wanted]
        figure = sum(((p.actual_available if actual else p.available) or Decimal(0) for p in places), Decimal(0))
    else:
        figure = item.actual_available_stock if actual else item.available_stock
    if figure is None:
        return None
    # Fractional stock cannot be sold in whole units: round down, never promise what is not there.
    return int(figure.to_integral_value(rounding=ROUND_FLOOR))


def convert(value: Decimal | None, unit: str | None, target: str, table: dict[str, Decimal], kind: str) -> str:
    """Convert between units through the base unit; "" when Zoho has no value."""
    if value is None:
        return ""
    source = (unit or target).lower()
    if source not in table or target.lower() not in table:
        raise UnitError(f"cannot convert {kind} from {unit!r} to the store's {target!r}")
    if source == target.lower():
        return _plain(value)
    converted = value * table[source] / table[target.lower()]
    return _plain(converted.quantize(MEASURE_PLACES, rounding=ROUND_HALF_UP))


def _plain(value: Decimal) -> str:
    """"1.2500" → "1.25", "2.0" → "2", never exponent notation."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
