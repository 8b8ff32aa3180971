"""The `CatalogSource` port: where the engine reads the items it syncs, in its own words
(app/catalog/types.py). Zoho Inventory's adapter (app/integrations/zoho/) implements it and
raises the errors of app/ports/errors.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Protocol

from app.catalog.types import CatalogGroup, CatalogItem, DownloadedImage


class CatalogSource(Protocol):
    """One catalogue of one connection."""

    def iter_item_pages(self, *, modified_since: datetime | None = None) -> AsyncIterator[list[CatalogItem]]:
        """Every item (or every item modified since), a page at a time; pages may overlap."""
        ...

    async def get_item_details(self, item_ids: Iterable[str]) -> list[CatalogItem]:
        """Full records of `item_ids`; ids the catalogue does not know are left out."""
        ...

    def iter_group_pages(self) -> AsyncIterator[list[CatalogGroup]]:
        """Every item group's own fields (without its items), a page at a time."""
        ...

    async def get_group(self, group_id: str) -> CatalogGroup | None:
        """One group with every item of it (the variants of one variable product), whatever
        their status, in one call; None when the catalogue does not know the group."""
        ...

    async def download_item_image(self, item_id: str) -> DownloadedImage:
        """The item's primary image; ImageUnavailable when there is none to have."""
        ...

    async def aclose(self) -> None: ...


class CatalogWebhooks(Protocol):
    """How a catalogue is told to announce item changes to this service."""

    async def create_webhook(self, *, name: str, url: str, secret: str) -> str: ...

    async def create_item_workflow(self, *, name: str, webhook_id: str) -> str: ...

    async def set_workflow_active(self, workflow_id: str, active: bool) -> None: ...

    async def delete_workflow(self, workflow_id: str) -> None: ...

    async def delete_webhook(self, webhook_id: str) -> None: ...


class WebhookScheme(Protocol):
    """How a catalogue's change announcements are signed and read: the intake checks and parses
    deliveries with it, the set-up makes each connection's secret with it."""

    signature_header: str

    def new_secret(self) -> str:
        """A fresh secret of the form the catalogue accepts."""
        ...

    def can_be_signature(self, header: str | None) -> bool:
        """Whether a header value could be a signature at all (checked before the body is read)."""
        ...

    def verify(self, secret: str, query: Iterable[tuple[str, str]], body: bytes, signature: str | None) -> bool:
        ...

    def item_of(self, body: bytes) -> tuple[str | None, str | None]:
        """(item id, SKU) of a delivery; (None, reason or None) when it announces no item."""
        ...

