"""A connection's adapters as one job holds them: built once (credentials decrypted once) by
app/connections/adapters.py, passed down to every step of the job, closed at its end."""

from __future__ import annotations

from dataclasses import dataclass

from app.ports.catalog import CatalogSource
from app.ports.store import MediaLibrary, Store


@dataclass
class Adapters:
    catalog: CatalogSource
    store: Store
    media: MediaLibrary | None  # None: the store takes images by URL only

    async def aclose(self) -> None:
        await self.catalog.aclose()
        await self.store.aclose()
        if self.media is not None:
            await self.media.aclose()

    async def __aenter__(self) -> Adapters:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
