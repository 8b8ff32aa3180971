"""Processing a run: claim pending items in batches, write each batch to the store in one
`/products/batch` call, record every outcome, repeat until nothing is pending.

Safety rests on three things:
- a claim (`claim_token`, `claimed_at`) per item, renewed by the driver's heartbeat, so a batch
  whose worker died is claimed again once its lease is stale;
- the durable link (`product_links`) written in the same transaction as the item's outcome;
- a retry of a create looks the SKU up first, and a create refused for a duplicate SKU becomes
  an update of the product holding it, so a batch replayed after a crash never creates twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.catalog.types import ProductWrite, StoreProductRef, StoreSettings, WriteResult, WriteStatus
from app.connections.schemas import ConnectionSettings
from app.core.context import AppContext
from app.db.session import transaction
from app.integrations.pace import Pace
from app.logs.service import entry, write_logs
from app.models import (
    ItemAction,
    ItemKind,
    ItemStatus,
    LinkKind,
    ProductLink,
)
from app.ports.errors import AuthRefused, Unavailable, VendorError
from app.ports.store import Store
from app.syncs import state
from app.syncs.drafts import retire_draft
from app.syncs.media import Known, media_for, with_media
from app.syncs.plan import HeadRef, Payload, UnreadablePlan, head_of, load_payload
from app.syncs.state import ClaimedRow, Lease

log = structlog.get_logger(__name__)

# Consecutive batches the store refused as a whole (a 4xx, not an outage: that pauses the run)
# after which the run fails.
MAX_BATCH_OUTAGES = 3

class RunFailure(Exception):
    """A verdict that makes every further batch pointless: the run fails (credentials refused,
    the store refusing whole batches)."""


@dataclass(slots=True)
class Claimed:
    """A claimed item with its payload read (`unreadable` says why it could not be)."""

    id: int
    zoho_item_id: str | None
    sku: str | None
    action: str
    payload: Payload | None
    content_hash: str | None
    store_id: int | None
    attempts: int
    kind: str = ItemKind.PRODUCT
    group_id: str | None = None
    parent_store_id: int | None = None
    unreadable: str | None = None

    @classmethod
    def of(cls, row: ClaimedRow) -> Claimed:
        try:
            payload, unreadable = load_payload(row.payload, row.kind), None
        except UnreadablePlan as exc:
            payload, unreadable = None, str(exc)
        return cls(id=row.id, zoho_item_id=row.zoho_item_id, sku=row.sku, action=row.action, payload=payload,
                   content_hash=row.content_hash, store_id=row.store_id, attempts=row.attempts, kind=row.kind,
                   group_id=row.group_id, parent_store_id=row.parent_store_id, unreadable=unreadable)

    @property
    def head(self) -> HeadRef | None:
        return head_of(kind=self.kind, group_id=self.group_id, store_id=self.store_id,
                       parent_store_id=self.parent_store_id)

    @property
    def writes(self) -> Payload:
        """The payload of an item to write (every pending create or update has one)."""
        assert self.payload is not None, f"run item {self.id} has nothing to write"
        return self.payload


@dataclass(slots=True)
class Outcome:
    item: Claimed
    ok: bool
    store_id: int | None = None
    created: bool = False
    error_code: str | None = None
    message: str | None = None
    parent_id: int | None = None
    images_pending: bool = False


class BatchProcessor:
    """Writes one connection's claimed items to its store."""

    def __init__(self, *, ctx: AppContext, run_id: uuid.UUID, connection_id: uuid.UUID, lease: Lease,
                 store: Store, store_settings: StoreSettings, settings: ConnectionSettings) -> None:
        self.ctx, self.run_id, self.connection_id, self.lease = ctx, run_id, connection_id, lease
        self.token = lease.token
        self.pace = Pace(max_size=settings.batch_size, max_in_flight=settings.store_concurrency)
        store.pace = self.pace
        self.store, self.store_settings, self.settings = store, store_settings, settings
        self.outages = 0
        # This driver's loops take turns claiming, so none gets a short batch because another
        # loop's claim held the rows it skipped.
        self._claiming = asyncio.Lock()

    async def run_loop(self) -> None:
        """Claim and write batches until none is left or the run stops being ours to drive."""
        while not self.lease.lost:
            async with self.pace.slot():
                if not (batch := await self.claim()):
                    return
                await self.process(batch)

    async def claim(self) -> list[Claimed]:
        """The next batch, or nothing once the run is no longer running under this driver."""
        async with self._claiming, transaction(self.ctx.sessionmaker) as session:
            rows = await state.claim_rows(session, run_id=self.run_id, token=self.token,
                                          size=self.pace.size, lease_seconds=self.ctx.settings.lease_seconds)
            return [Claimed.of(row) for row in rows]

    async def process(self, batch: list[Claimed]) -> None:
        if self.lease.lost:  # taken over since the claim: the new driver claims these again
            return
        try:
            outcomes = await self.write(batch)
            self.outages = 0
        except AuthRefused as exc:
            raise RunFailure(exc.reason) from exc
        except Unavailable:
            raise  # an outage, not a verdict on these items: the run pauses (runner.judge)
        except VendorError as exc:
            self.outages += 1
            outcomes = [Outcome(item, False, error_code=exc.code or "store_error", message=exc.message)
                        for item in batch]
            if self.outages >= MAX_BATCH_OUTAGES:
                await self.record(outcomes)
                raise RunFailure(f"the store failed {self.outages} batches in a row: {exc.message}") from exc
        await self.record(outcomes)

    async def write(self, batch: list[Claimed]) -> list[Outcome]:
        """Products first (simple products and variable parents in one batch call, plus a
        follow-up call for what the store's answers say to redo), then each parent's variations.
        SKUs that the same Zoho item holds elsewhere in the store are freed before either."""
        unreadable = [Outcome(i, False, error_code="unreadable_plan", message=i.unreadable)
                      for i in batch if i.unreadable]
        batch = [i for i in batch if not i.unreadable]
        media = await media_for(self.ctx, self.connection_id, (i.payload.fields for i in batch if i.payload))
        members: dict[HeadRef, list[Claimed]] = {}
        for item in batch:
            if item.kind == ItemKind.VARIATION and item.head is not None:
                members.setdefault(item.head, []).append(item)
        tops = [i for i in batch if i.kind != ItemKind.VARIATION]
        freeing = [i for i in batch if i.payload and i.payload.frees]
        await self._free(freeing, parents=True)
        product_frees = await self._free(freeing, parents=False)
        writes = [i for i in tops if not (i.kind == ItemKind.VARIABLE and i.action == ItemAction.UNCHANGED)]
        outcomes = unreadable + await self._write_set(writes, media, variations_of=None, extra=product_frees)
        outcomes += [Outcome(i, True, store_id=i.store_id) for i in tops if i not in writes]
        heads = {o.item.head: o for o in outcomes if o.item.kind == ItemKind.VARIABLE}
        for ref, items in members.items():
            head = heads.get(ref)
            if head is None or not head.ok or head.store_id is None:
                why = head.message if head is not None else "its variable product was not written"
                outcomes += [Outcome(i, False, error_code="parent_failed",
                                     message=f"variable product not written: {why}") for i in items]
                continue
            outcomes += await self._write_set(items, media, variations_of=head.store_id)
        return outcomes

    async def _free(self, items: list[Claimed], *, parents: bool) -> list[ProductWrite]:
        """Retire and clear the SKU of store objects that an item's earlier role holds. Variations
        are freed here, right away; products are returned to go first in the product batch
        (the batch runs its updates before anything reads the SKU for a variation)."""
        frees = [f for i in items for f in i.writes.frees if (f.parent_id is not None) == parents]
        writes = [ProductWrite(-(n + 1), retire_draft(self.settings, free_sku=True), store_id=f.store_id)
                  for n, f in enumerate(frees)]
        if not parents or not writes:
            return writes
        by_parent: dict[int, list[ProductWrite]] = {}
        for free, write in zip(frees, writes, strict=True):
            assert free.parent_id is not None
            by_parent.setdefault(free.parent_id, []).append(write)
        for parent_id, parent_writes in by_parent.items():
            results = await self.store.batch_variations(parent_id, updates=parent_writes,
                                                        settings=self.store_settings)
            await self._after_free(results)
        return []

    async def _after_free(self, results: list[WriteResult]) -> None:
        freed = [r.store_id for r in results if r.ok and r.store_id]
        for result in results:
            if not result.ok:
                log.warning("sync.free_failed", store_id=result.store_id, error_code=result.error_code)
        if freed:
            async with transaction(self.ctx.sessionmaker) as session:
                await session.execute(_RETIRE_LINKS, {"connection_id": self.connection_id, "ids": freed})

    async def _write_set(self, items: list[Claimed], media: Known, *, variations_of: int | None,
                         extra: Sequence[ProductWrite] = ()) -> list[Outcome]:
        """One batch call for `items` (products, or one parent's variations), then one follow-up."""
        if not items and not extra:
            return []
        batch = self.store.batch_products if variations_of is None else partial(self.store.batch_variations,
                                                                                 variations_of)
        creates, updates, pending = await self._split(items, media, variations_of)
        by_key = {item.id: item for item in items}
        results = await batch(creates=creates, updates=[*extra, *updates], settings=self.store_settings)
        if extra:  # matched by the key each write was sent with, whatever order the store answers in
            freeing = {w.key for w in extra}
            await self._after_free([r for r in results if r.key in freeing])
            results = [r for r in results if r.key not in freeing]
        outcomes, redo = self._judge(results, by_key, {w.key for w in creates})
        if redo:
            redo_creates, redo_updates, gone = await self._redo(redo, by_key, media, variations_of)
            outcomes += gone
            results = await batch(creates=redo_creates, updates=redo_updates, settings=self.store_settings)
            outcomes += self._judge(results, by_key, {w.key for w in redo_creates}, final=True)[0]
        for outcome in outcomes:
            outcome.parent_id = variations_of
            outcome.images_pending = outcome.item.id in pending
        return outcomes

    async def _split(self, items: list[Claimed], media: Known, parent_id: int | None,
                     ) -> tuple[list[ProductWrite], list[ProductWrite], set[int]]:
        # A create claimed before (its worker died mid-batch) may already exist in the store.
        retried = {i.id: i for i in items if i.action == ItemAction.CREATE and i.store_id is None and i.attempts > 1}
        found = await self.store.find_by_skus(i.sku for i in retried.values() if i.sku) if retried else {}
        creates, updates, pending = [], [], set()
        for item in items:
            ref = found.get((item.sku or "").lower()) if item.id in retried else None
            if ref is not None and parent_id is not None and ref.parent_id != parent_id:
                ref = None
            store_id = item.store_id or (ref.store_id if ref else None)
            draft, waiting = with_media(item.writes.fields, media)
            if waiting:
                pending.add(item.id)
            if store_id is None:
                creates.append(ProductWrite(item.id, draft | item.writes.create))
            else:
                updates.append(ProductWrite(item.id, draft, store_id=store_id))
        return creates, updates, pending

    def _judge(self, results: list[WriteResult], by_key: dict[int, Claimed], created: set[int], *,
               final: bool = False) -> tuple[list[Outcome], list[WriteResult]]:
        outcomes: list[Outcome] = []
        redo: list[WriteResult] = []
        for result in results:
            item = by_key[result.key]
            if result.ok:
                outcomes.append(Outcome(item, True, store_id=result.store_id, created=result.key in created))
            elif not final and self._recoverable(result, result.key in created):
                redo.append(result)
            else:
                outcomes.append(Outcome(item, False, error_code=result.error_code, message=_explain(result)))
        return outcomes, redo

    @staticmethod
    def _recoverable(result: WriteResult, was_create: bool) -> bool:
        """A create refused for a SKU another object holds, or an update of an object gone."""
        return result.status == (WriteStatus.DUPLICATE_SKU if was_create else WriteStatus.GONE)

    async def _redo(self, redo: list[WriteResult], by_key: dict[int, Claimed], media: Known,
                    parent_id: int | None) -> tuple[list[ProductWrite], list[ProductWrite], list[Outcome]]:
        """Duplicate SKU on create → update the holder (for a variation: when it is one of the
        same parent's, which that parent's batch call checks). Stale link on update → find the
        SKU again, or create when the object is gone and creating is allowed."""
        stale = [by_key[r.key] for r in redo if r.status != WriteStatus.DUPLICATE_SKU]
        found = await self.store.find_by_skus(i.sku for i in stale if i.sku) if stale else {}
        may_create = self.settings.create_missing_variations if parent_id else self.settings.create_missing_products
        creates, updates, gone = [], [], []
        for result in redo:
            item = by_key[result.key]
            draft = with_media(item.writes.fields, media)[0]
            ref = found.get((item.sku or "").lower())
            if result.status == WriteStatus.DUPLICATE_SKU:
                updates.append(ProductWrite(item.id, draft, store_id=result.held_by))
            elif ref is not None and _same_place(ref, item, parent_id):
                updates.append(ProductWrite(item.id, draft, store_id=ref.store_id))
            elif may_create and not item.writes.retires:
                creates.append(ProductWrite(item.id, draft | item.writes.create))
            else:
                gone.append(Outcome(item, False, error_code=result.error_code, message=(
                    f"#{result.store_id} no longer exists in the store"
                    + ("" if item.writes.retires else " and creating is off"))))
        return creates, updates, gone

    async def record(self, outcomes: list[Outcome]) -> None:
        """Item outcomes, links and log lines in one transaction. Only items still claimed by
        this driver are touched; cancelled-while-in-flight items record what really happened."""
        if not outcomes:
            return
        async with transaction(self.ctx.sessionmaker) as session:
            await state.record_outcomes(session, run_id=self.run_id, rows=[self._item_row(o) for o in outcomes],
                                        pace=self.pace.as_dict())
            # In key order: a webhook pass and a manual run that upsert the same links then lock
            # them in the same order, and cannot deadlock on each other.
            linked = [o for o in outcomes if o.ok and o.store_id and o.item.zoho_item_id is not None]
            links = sorted(map(self._link_row, linked), key=lambda row: (row["kind"], row["zoho_id"]))
            if links:
                await session.execute(_UPSERT_LINK, links)
            await write_logs(session, [self._log_row(o) for o in outcomes if o.item.action != ItemAction.UNCHANGED])

    def _item_row(self, o: Outcome) -> dict[str, Any]:
        return {"b_id": o.item.id, "b_token": self.token, "b_status": ItemStatus.SYNCED if o.ok else ItemStatus.FAILED,
                "b_store_id": o.store_id or o.item.store_id, "b_reason": None if o.ok else o.message,
                "b_code": None if o.ok else o.error_code, "b_images": "pending" if o.ok and o.images_pending else None}

    def _link_row(self, o: Outcome) -> dict[str, Any]:
        """The item's link; a variable product's zoho_id is its group's (its row's zoho_item_id)."""
        kind = {ItemKind.VARIABLE: LinkKind.VARIABLE, ItemKind.VARIATION: LinkKind.VARIATION}.get(
            ItemKind(o.item.kind), LinkKind.PRODUCT)
        zoho_id = o.item.zoho_item_id
        retired = bool(o.item.payload and o.item.payload.retires)
        # Images still to come: no hash yet, so that a run that dies before them writes again.
        digest = None if o.images_pending else o.item.content_hash
        return {"connection_id": self.connection_id, "kind": kind, "zoho_id": zoho_id, "store_id": o.store_id,
                "store_parent_id": o.parent_id, "sku": o.item.sku, "content_hash": digest, "retired": retired}

    def _log_row(self, o: Outcome) -> dict[str, Any]:
        action = "create" if o.created else "update"
        nouns: dict[str, str] = {ItemKind.VARIABLE: "variable product", ItemKind.VARIATION: "variation"}
        noun = nouns.get(o.item.kind, "product")
        if o.ok and o.item.payload and o.item.payload.retires:
            private = o.item.payload.fields.get("retire") == "private"
            message = f"set aside {noun} #{o.store_id}: out of stock{' and private' if private else ''}"
        elif o.ok:
            message = f"{'created' if o.created else 'updated'} {noun} #{o.store_id}"
        else:
            message = f"{action} failed: {o.message}"
        return entry(level="info" if o.ok else "error", action=action, status="synced" if o.ok else "failed",
                     connection_id=self.connection_id, run_id=self.run_id, sku=o.item.sku,
                     zoho_item_id=o.item.zoho_item_id, store_id=o.store_id or o.item.store_id, message=message,
                     details=None if o.ok else {"code": o.error_code})


_link_insert = pg_insert(ProductLink)
_UPSERT_LINK = _link_insert.on_conflict_do_update(
    index_elements=["connection_id", "kind", "zoho_id"],
    set_={"store_id": _link_insert.excluded.store_id, "sku": _link_insert.excluded.sku,
          "store_parent_id": _link_insert.excluded.store_parent_id, "retired": _link_insert.excluded.retired,
          "content_hash": _link_insert.excluded.content_hash, "synced_at": text("now()")},
)
_RETIRE_LINKS = text("""
    UPDATE product_links SET retired = true, sku = NULL, content_hash = NULL
    WHERE connection_id = :connection_id AND store_id = ANY(:ids)
""")


def _same_place(ref: StoreProductRef, item: Claimed, parent_id: int | None) -> bool:
    if parent_id is None:
        return ref.kind not in ("variation", "variable") or (item.kind == ItemKind.VARIABLE and ref.kind == "variable")
    return ref.kind == "variation" and ref.parent_id == parent_id


def _explain(result: WriteResult) -> str:
    """The store's own code and message, with what to do where the code alone is cryptic."""
    message = f"{result.error_code}: {result.error_message}"
    if result.status == WriteStatus.TRASHED_SKU:
        message += " (a product in the store's Trash holds this SKU: restore it or empty the Trash)"
    return message


async def drive_batches(processor: BatchProcessor, concurrency: int) -> None:
    """`concurrency` claim-and-write loops sharing one driver token. When one fails the others
    stop too (their claims are released or lapse), and the first error is raised as it is."""
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(processor.run_loop())
    except ExceptionGroup as errors:
        raise errors.exceptions[0] from None
