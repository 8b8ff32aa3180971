"""The service's own words for catalogue data and store writes. Vendor adapters translate to
and from these; nothing Zoho- or WooCommerce-shaped passes this line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
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
class CatalogGroup:
    """One item group: the variable product's own name, description and image, which are the
    group's and not any variant's. `image_item_id` is an item of the group that carries the
    group's image document, through which the picture is downloaded (the catalogue documents
    no download for a group); None when no item does, and the parent then shows its variants'
    images only. `items` is filled when the group was read with its items (one group by id)."""

    group_id: str
    name: str
    description: str = ""
    image: ImageRef | None = None
    image_item_id: str | None = None
    items: tuple[CatalogItem, ...] = ()

    @property
    def image_key(self) -> str | None:
        """The group image's identity in the image store: the carrying item's key, so a picture
        the variant already brought is never downloaded twice."""
        if self.image is None or self.image_item_id is None:
            return None
        return self.image.key(self.image_item_id)


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


class WriteStatus(StrEnum):
    """What became of one write, in the engine's words; the adapter reads its vendor's answer."""

    CREATED = "created"
    UPDATED = "updated"
    DUPLICATE_SKU = "duplicate_sku"  # another object holds the SKU: `held_by` says which, when known
    GONE = "gone"  # the object updated no longer exists
    TRASHED_SKU = "trashed_sku"  # a trashed object holds the SKU: the merchant must restore or purge it
    REFUSED = "refused"  # anything else the store refused


@dataclass(slots=True)
class WriteResult:
    """The store's answer for one ProductWrite, matched to it by `key`. A failure keeps the
    vendor's own code and message, which the item's record shows."""

    key: int
    status: WriteStatus
    store_id: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    held_by: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in (WriteStatus.CREATED, WriteStatus.UPDATED)


@dataclass(frozen=True, slots=True)
class DownloadedImage:
    """An item's image file as the catalogue serves it."""

    data: bytes
    content_type: str
    filename: str
