"""The service's own words for catalogue data. Vendor clients translate to and from these;
nothing Zoho- or WooCommerce-shaped passes this line."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class PlaceStock:
    """Stock of one warehouse or location."""

    place_id: str
    name: str
    available: Decimal | None
    actual_available: Decimal | None


@dataclass(frozen=True, slots=True)
class ImageRef:
    """Identity of an item's image in Zoho: when none of these change, the image did not."""

    document_id: str
    name: str
    content_type: str

    def key(self, zoho_item_id: str) -> str:
        """The identity the image store is keyed by. Images are fetched per item
        (`GET /items/{id}/image`), so the item is part of it."""
        kind = self.content_type.removeprefix("image/")
        return f"{zoho_item_id}/{self.document_id}/{self.name.replace('/', '_')}/{kind}"[:300]


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One Zoho Inventory item."""

    zoho_item_id: str
    name: str
    sku: str | None
    description: str = ""
    price: Decimal | None = None
    active: bool = True
    tracks_stock: bool = True
    available_stock: Decimal | None = None
    actual_available_stock: Decimal | None = None
    stock_by_place: tuple[PlaceStock, ...] = ()
    reorder_level: Decimal | None = None
    weight: Decimal | None = None
    weight_unit: str | None = None
    length: Decimal | None = None
    width: Decimal | None = None
    height: Decimal | None = None
    dimension_unit: str | None = None
    group_id: str | None = None
    group_name: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    image: ImageRef | None = None
    last_modified: datetime | None = None
    # True when the row came from a list call that lacked description/package fields.
    partial: bool = False


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """What the store decides for us: its units and whether it manages stock at all."""

    weight_unit: str  # kg, g, lbs, oz
    dimension_unit: str  # m, cm, mm, in, yd
    manage_stock: bool


@dataclass(frozen=True, slots=True)
class StoreProductRef:
    """A product or variation found in the store."""

    store_id: int
    sku: str
    kind: str  # simple, variable, variation, grouped, external
    parent_id: int | None
    status: str


@dataclass(slots=True)
class ProductWrite:
    """One product to create (store_id None) or update. `draft` holds our field names:
    sku, name, description, price, stock, low_stock, weight, dimensions, status, zoho_item_id."""

    key: int
    draft: dict[str, Any]
    store_id: int | None = None


@dataclass(slots=True)
class WriteResult:
    """The store's answer for one ProductWrite."""

    key: int
    ok: bool
    store_id: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_data: dict[str, Any] = field(default_factory=dict)

    @property
    def conflicting_store_id(self) -> int | None:
        """For a duplicate-SKU error: the store id of the product that holds the SKU."""
        value = self.error_data.get("resource_id")
        return int(value) if isinstance(value, int | str) and str(value).isdigit() and int(value) > 0 else None
