"""The `Store` port: where the engine writes products and variations, in its own words.

A platform adapter (app/integrations/woocommerce/ for WooCommerce) implements it: it turns
drafts (app/syncs/drafts.py) into its own bodies, answers every write with a `WriteResult`
matched by the key the write was sent with, and raises the errors of app/ports/errors.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Protocol

from app.catalog.types import ProductWrite, StoreProductRef, StoreSettings, WriteResult
from app.integrations.pace import Pace


class Compare(StrEnum):
    """How a preview compares one field: numbers by value ("19" is "19.00"), text without the
    whitespace a store adds around it and with HTML entities read as characters ("&amp;" is
    "&"), anything else as it is."""

    EXACT = "exact"
    NUMBER = "number"
    TEXT = "text"
    COUNT = "count"  # a number when both sides hold one, else exact (an unset quantity is not 0)


# A product as a preview compares it: the store's own field names → comparable values.
Fields = dict[str, Any]

# Keys an adapter adds to a record's Fields, beside the compared ones: the record is in the
# store's trash (restorable, not gone), and the status it had before it was trashed, when the
# store remembers it (None otherwise).
TRASHED = "_trashed"
STATUS_BEFORE_TRASH = "_status_before_trash"


class Store(Protocol):
    """One store of one connection."""

    # Set by a run's driver: batch sizes and strain follow the store's answers.
    pace: Pace | None

    async def get_store_settings(self) -> StoreSettings:
        """Its units and whether it manages stock; also the first proof of the credentials."""
        ...

    async def find_by_skus(self, skus: Iterable[str]) -> dict[str, StoreProductRef]:
        """Products and variations holding any of `skus`, keyed by lower-cased SKU."""
        ...

    async def batch_products(self, *, creates: Sequence[ProductWrite] = (), updates: Sequence[ProductWrite] = (),
                             settings: StoreSettings) -> list[WriteResult]:
        """Create and update products; one result per write, each carrying its write's key."""
        ...

    async def batch_variations(self, parent_id: int, *, creates: Sequence[ProductWrite] = (),
                               updates: Sequence[ProductWrite] = (), settings: StoreSettings) -> list[WriteResult]:
        """Create and update one variable product's variations; one result per write, by key."""
        ...

    async def adopt_image(self, url: str, *, store_id: int, parent_id: int | None,
                          settings: StoreSettings) -> int | None:
        """Have the store download the image at `url` onto a product (or, with `parent_id`, a
        variation); the media id it gave the image, None when it reported none."""
        ...

    async def aclose(self) -> None: ...

    # --- previews -------------------------------------------------------------------------

    @property
    def comparison(self) -> Mapping[str, Compare]:
        """The fields a preview compares, in order, and how."""
        ...

    def intended_fields(self, draft: dict[str, Any], *, settings: StoreSettings) -> Fields:
        """What writing `draft` would set, as comparable fields."""
        ...

    async def current_fields(self, product_ids: Sequence[int],
                             variations_of: Iterable[int]) -> dict[int, Fields]:
        """What the store holds now for these products and the variations of these parents, by
        store id, as comparable fields. Records in the store's trash are included, marked with
        `TRASHED`; an id left out no longer exists."""
        ...


    async def list_product_skus(self) -> list[tuple[int, str]]:
        """(store id, SKU) of every product outside the trash, variations left out: what a verify
        run holds against the catalogue to list the store's products Zoho does not know."""
        ...


class MediaLibrary(Protocol):
    """Where image files are uploaded as bytes, for stores that take them so."""

    async def upload(self, data: bytes, *, filename: str, content_type: str) -> int:
        """Store `data`; the new media item's id."""
        ...

    async def aclose(self) -> None: ...
