"""In-memory adapters of the engine's ports: a `Store` and a `CatalogSource` with no HTTP and no
database, for fast tests of the planner and the processor. They keep the rules the engine relies
on (SKUs unique across products and variations, case-insensitively; a trashed product still
holding its SKU; an update of a deleted object refused), answered in the engine's own words."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from app.catalog.types import (
    CatalogGroup,
    CatalogItem,
    DownloadedImage,
    ProductWrite,
    StoreProductRef,
    StoreSettings,
    WriteResult,
    WriteStatus,
)
from app.integrations.pace import Pace
from app.ports.errors import ImageUnavailable, VendorError
from app.ports.store import Compare, Fields

KINDS = {"product": "simple", "variable": "variable", "variation": "variation"}


@dataclass
class Stored:
    id: int
    sku: str
    kind: str  # simple, variable, variation
    parent_id: int | None
    fields: dict[str, Any]
    trashed: bool = False


@dataclass
class MemoryStore:
    """A store held in a dict. `answer_order` "reversed" answers a batch's writes last first
    (updates before creates); `fail_with` raises that error from the next batch call."""

    settings: StoreSettings = field(default_factory=lambda: StoreSettings("kg", "cm", True))
    answer_order: str = "as_sent"
    fail_with: VendorError | None = None
    products: dict[int, Stored] = field(default_factory=dict)
    batches: list[tuple[int | None, int, int]] = field(default_factory=list)  # parent, creates, updates
    pace: Pace | None = None
    comparison: dict[str, Compare] = field(default_factory=lambda: {"sku": Compare.EXACT, "name": Compare.EXACT})
    _next_id: int = 100

    def add(self, sku: str, *, kind: str = "simple", parent_id: int | None = None, trashed: bool = False,
            **fields: Any) -> int:
        self._next_id += 1
        self.products[self._next_id] = Stored(self._next_id, sku, kind, parent_id, dict(fields), trashed)
        return self._next_id

    def by_sku(self, sku: str) -> Stored | None:
        return next((p for p in self.products.values() if p.sku and p.sku.lower() == sku.lower()), None)

    async def get_store_settings(self) -> StoreSettings:
        return self.settings

    async def find_by_skus(self, skus: Iterable[str]) -> dict[str, StoreProductRef]:
        found = {}
        for sku in skus:
            held = self.by_sku(sku)
            if held is not None and not held.trashed:
                found[sku.lower()] = StoreProductRef(held.id, held.sku, held.kind, held.parent_id, "publish")
        return found

    async def batch_products(self, *, creates: Sequence[ProductWrite] = (), updates: Sequence[ProductWrite] = (),
                             settings: StoreSettings) -> list[WriteResult]:
        return self._batch(None, creates, updates)

    async def batch_variations(self, parent_id: int, *, creates: Sequence[ProductWrite] = (),
                               updates: Sequence[ProductWrite] = (), settings: StoreSettings) -> list[WriteResult]:
        return self._batch(parent_id, creates, updates)

    def _batch(self, parent_id: int | None, creates: Sequence[ProductWrite],
               updates: Sequence[ProductWrite]) -> list[WriteResult]:
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        self.batches.append((parent_id, len(creates), len(updates)))
        # Updates first here, so that a SKU an update frees is free for a create of the same batch.
        answers = [self._update(w, parent_id) for w in updates] + [self._create(w, parent_id) for w in creates]
        answers = answers[len(updates):] + answers[: len(updates)]  # the batch answers creates first
        if self.answer_order == "reversed":
            answers.reverse()
        elif self.answer_order == "shuffled":
            random.Random(7).shuffle(answers)
        return answers

    def _create(self, write: ProductWrite, parent_id: int | None) -> WriteResult:
        sku = str(write.draft.get("sku") or "")
        held = self.by_sku(sku) if sku else None
        if held is not None:
            status = WriteStatus.TRASHED_SKU if held.trashed else WriteStatus.DUPLICATE_SKU
            return WriteResult(write.key, status, error_code="sku_taken", error_message=f"SKU {sku} is taken",
                               held_by=None if held.trashed else held.id)
        kind = KINDS[write.draft.get("kind", "product")]
        store_id = self.add(sku, kind=kind, parent_id=parent_id, **_fields(write.draft))
        return WriteResult(write.key, WriteStatus.CREATED, store_id=store_id)

    def _update(self, write: ProductWrite, parent_id: int | None) -> WriteResult:
        stored = self.products.get(write.store_id or 0)
        if stored is None or stored.trashed or stored.parent_id != parent_id:
            return WriteResult(write.key, WriteStatus.GONE, store_id=write.store_id, error_code="no_such_object",
                               error_message="no such object")
        sku = write.draft.get("sku")
        held = self.by_sku(sku) if sku else None
        if held is not None and held.id != stored.id:
            return WriteResult(write.key, WriteStatus.DUPLICATE_SKU, store_id=write.store_id, error_code="sku_taken",
                               error_message=f"SKU {sku} is taken", held_by=held.id)
        if sku is not None:
            stored.sku = sku
        stored.fields.update(_fields(write.draft))
        return WriteResult(write.key, WriteStatus.UPDATED, store_id=stored.id)

    async def adopt_image(self, url: str, *, store_id: int, parent_id: int | None,
                          settings: StoreSettings) -> int | None:
        self.products[store_id].fields["image_url"] = url
        return 9000 + store_id

    def intended_fields(self, draft: dict[str, Any], *, settings: StoreSettings) -> Fields:
        return {k: draft[k] for k in self.comparison if k in draft}

    async def current_fields(self, product_ids: Sequence[int], variations_of: Iterable[int]) -> dict[int, Fields]:
        parents = set(variations_of)
        wanted = [p for p in self.products.values() if p.id in product_ids or p.parent_id in parents]
        return {p.id: {"sku": p.sku, **{k: v for k, v in p.fields.items() if k in self.comparison}} for p in wanted}

    async def list_product_skus(self) -> list[tuple[int, str]]:
        return [(p.id, p.sku) for p in self.products.values() if p.parent_id is None]

    async def aclose(self) -> None:
        pass


def _fields(draft: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in draft.items() if k not in ("sku", "kind")}


@dataclass
class MemoryCatalog:
    """A catalogue of `items`, a page of `page_size` at a time."""

    items: list[CatalogItem]
    page_size: int = 200
    detail_calls: int = 0
    group_calls: int = 0
    groups: dict[str, CatalogGroup] = field(default_factory=dict)  # own fields; else named after the items

    async def iter_item_pages(self, *, modified_since: datetime | None = None) -> AsyncIterator[list[CatalogItem]]:
        for start in range(0, len(self.items), self.page_size):
            yield self.items[start : start + self.page_size]

    async def get_item_details(self, item_ids: Iterable[str]) -> list[CatalogItem]:
        self.detail_calls += 1
        wanted = set(item_ids)
        return [i for i in self.items if i.zoho_item_id in wanted]

    async def iter_group_pages(self) -> AsyncIterator[list[CatalogGroup]]:
        self.group_calls += 1
        groups = {i.group_id: CatalogGroup(i.group_id, i.group_name or "") for i in self.items if i.group_id}
        yield [self.groups.get(gid, group) for gid, group in groups.items()]

    async def get_group(self, group_id: str) -> CatalogGroup | None:
        self.group_calls += 1
        members = tuple(i for i in self.items if i.group_id == group_id)
        if not members:
            return None
        return replace(self.groups.get(group_id, CatalogGroup(group_id, members[0].group_name or "")), items=members)

    async def download_item_image(self, item_id: str) -> DownloadedImage:
        raise ImageUnavailable(f"no image for item {item_id}")

    async def aclose(self) -> None:
        pass
