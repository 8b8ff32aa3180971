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
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import bindparam, or_, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.catalog.types import ProductWrite, StoreSettings, WriteResult
from app.connections.schemas import ConnectionSettings
from app.core.context import AppContext
from app.db.session import transaction
from app.integrations.woocommerce.client import WooClient
from app.integrations.woocommerce.errors import WooAuthError, WooError
from app.logs.service import entry, write_logs
from app.models import ItemAction, ItemStatus, LinkKind, ProductLink, SyncRunItem

log = structlog.get_logger(__name__)

INVALID_SKU = "product_invalid_sku"
INVALID_ID = "woocommerce_rest_product_invalid_id"
TRASHED_SKU = "woocommerce_rest_product_not_created"
# Consecutive whole-batch failures (store down, timeouts) after which the run stops.
MAX_BATCH_OUTAGES = 3

_CLAIM = text("""
    UPDATE sync_run_items SET claim_token = :token, claimed_at = now(), attempts = attempts + 1
    WHERE id IN (
        SELECT i.id FROM sync_run_items i
        WHERE i.run_id = :run_id AND i.status = 'pending'
          AND (i.claim_token IS NULL OR i.claimed_at < now() - make_interval(secs => :lease))
          AND EXISTS (SELECT 1 FROM sync_runs r WHERE r.id = :run_id AND r.status = 'running'
                      AND r.driver_token = :token)
        ORDER BY i.id LIMIT :size FOR UPDATE SKIP LOCKED)
    RETURNING id, zoho_item_id, sku, action, payload, content_hash, woo_id, attempts
""")


class RunFailure(Exception):
    """Something that makes every further batch pointless (credentials refused, store gone)."""


@dataclass(slots=True)
class Claimed:
    id: int
    zoho_item_id: str
    sku: str | None
    action: str
    payload: dict[str, Any]
    content_hash: str | None
    woo_id: int | None
    attempts: int


@dataclass(slots=True)
class Outcome:
    item: Claimed
    ok: bool
    woo_id: int | None = None
    created: bool = False
    error_code: str | None = None
    message: str | None = None


class BatchProcessor:
    """Writes one connection's claimed items to its store."""

    def __init__(self, *, ctx: AppContext, run_id: uuid.UUID, connection_id: uuid.UUID, token: str,
                 woo: WooClient, store: StoreSettings, settings: ConnectionSettings) -> None:
        self.ctx, self.run_id, self.connection_id, self.token = ctx, run_id, connection_id, token
        self.woo, self.store, self.settings = woo, store, settings
        self.outages = 0

    async def run_loop(self) -> None:
        """Claim and write batches until none is left or the run stops being ours to drive."""
        while batch := await self.claim():
            await self.process(batch)

    async def claim(self) -> list[Claimed]:
        async with transaction(self.ctx.sessionmaker) as session:
            rows = await session.execute(_CLAIM, {"run_id": self.run_id, "token": self.token,
                                                  "lease": self.ctx.settings.lease_seconds,
                                                  "size": self.settings.batch_size})
            return [Claimed(**row._mapping) for row in rows]

    async def process(self, batch: list[Claimed]) -> None:
        try:
            outcomes = await self.write(batch)
            self.outages = 0
        except WooAuthError as exc:
            raise RunFailure(f"the store refused the credentials: {exc.message}") from exc
        except WooError as exc:
            self.outages += 1
            outcomes = [Outcome(item, False, error_code=exc.code or "store_error", message=exc.message) for item in batch]
            if self.outages >= MAX_BATCH_OUTAGES:
                await self.record(outcomes)
                raise RunFailure(f"the store failed {self.outages} batches in a row: {exc.message}") from exc
        await self.record(outcomes)

    async def write(self, batch: list[Claimed]) -> list[Outcome]:
        """One batch call, then one follow-up call for what the store's answers say to redo."""
        creates, updates = await self._split(batch)
        by_key = {item.id: item for item in batch}
        results = await self.woo.batch_products(creates=creates, updates=updates, settings=self.store)
        outcomes, redo = self._judge(results, by_key, {w.key for w in creates})
        if redo:
            redo_creates, redo_updates, gone = await self._redo(redo, by_key)
            outcomes += gone
            results = await self.woo.batch_products(creates=redo_creates, updates=redo_updates, settings=self.store)
            outcomes += self._judge(results, by_key, {w.key for w in redo_creates}, final=True)[0]
        return outcomes

    async def _split(self, batch: list[Claimed]) -> tuple[list[ProductWrite], list[ProductWrite]]:
        # A create claimed before (its worker died mid-batch) may already exist in the store.
        retried = {i.id: i for i in batch if i.action == ItemAction.CREATE and i.woo_id is None and i.attempts > 1}
        found = await self.woo.find_by_skus(i.sku for i in retried.values() if i.sku) if retried else {}
        creates, updates = [], []
        for item in batch:
            ref = found.get((item.sku or "").lower()) if item.id in retried else None
            store_id = item.woo_id or (ref.store_id if ref else None)
            if store_id is None:
                creates.append(ProductWrite(item.id, self._create_draft(item)))
            else:
                updates.append(ProductWrite(item.id, item.payload["draft"], store_id=store_id))
        return creates, updates

    def _create_draft(self, item: Claimed) -> dict[str, Any]:
        return item.payload["draft"] | item.payload.get("create", {})

    def _judge(self, results: list[WriteResult], by_key: dict[int, Claimed], created: set[int], *,
               final: bool = False) -> tuple[list[Outcome], list[WriteResult]]:
        outcomes: list[Outcome] = []
        redo: list[WriteResult] = []
        for result in results:
            item = by_key[result.key]
            if result.ok:
                outcomes.append(Outcome(item, True, woo_id=result.store_id, created=result.key in created))
            elif not final and self._recoverable(result, result.key in created):
                redo.append(result)
            else:
                outcomes.append(Outcome(item, False, error_code=result.error_code, message=_explain(result)))
        return outcomes, redo

    @staticmethod
    def _recoverable(result: WriteResult, was_create: bool) -> bool:
        if was_create:
            return result.error_code == INVALID_SKU and result.conflicting_store_id is not None
        return result.error_code == INVALID_ID

    async def _redo(self, redo: list[WriteResult], by_key: dict[int, Claimed],
                    ) -> tuple[list[ProductWrite], list[ProductWrite], list[Outcome]]:
        """Duplicate SKU on create → update the holder. Stale link on update → find the SKU
        again, or create when the product is gone and creating is allowed."""
        stale = [by_key[r.key] for r in redo if r.error_code == INVALID_ID]
        found = await self.woo.find_by_skus(i.sku for i in stale if i.sku) if stale else {}
        creates, updates, gone = [], [], []
        for result in redo:
            item = by_key[result.key]
            if result.error_code == INVALID_SKU:
                updates.append(ProductWrite(item.id, item.payload["draft"], store_id=result.conflicting_store_id))
            elif (ref := found.get((item.sku or "").lower())) is not None and ref.kind not in ("variation", "variable"):
                updates.append(ProductWrite(item.id, item.payload["draft"], store_id=ref.store_id))
            elif self.settings.create_missing_products:
                creates.append(ProductWrite(item.id, self._create_draft(item)))
            else:
                gone.append(Outcome(item, False, error_code=result.error_code, message=(
                    f"product #{result.store_id} no longer exists in the store and create_missing_products is off")))
        return creates, updates, gone

    async def record(self, outcomes: list[Outcome]) -> None:
        """Item outcomes, links and log lines in one transaction. Only items still claimed by
        this driver are touched; cancelled-while-in-flight items record what really happened."""
        if not outcomes:
            return
        async with transaction(self.ctx.sessionmaker) as session:
            await session.execute(_RECORD, [self._item_row(o) for o in outcomes],
                                  execution_options={"synchronize_session": False})
            links = [self._link_row(o) for o in outcomes if o.ok]
            if links:
                await session.execute(_UPSERT_LINK, links)
            await write_logs(session, [self._log_row(o) for o in outcomes])

    def _item_row(self, o: Outcome) -> dict[str, Any]:
        return {"b_id": o.item.id, "b_token": self.token, "b_status": ItemStatus.SYNCED if o.ok else ItemStatus.FAILED,
                "b_woo_id": o.woo_id or o.item.woo_id, "b_reason": None if o.ok else o.message,
                "b_code": None if o.ok else o.error_code}

    def _link_row(self, o: Outcome) -> dict[str, Any]:
        return {"connection_id": self.connection_id, "kind": LinkKind.PRODUCT, "zoho_id": o.item.zoho_item_id,
                "woo_id": o.woo_id, "woo_parent_id": None, "sku": o.item.sku, "content_hash": o.item.content_hash}

    def _log_row(self, o: Outcome) -> dict[str, Any]:
        action = "create" if o.created else "update"
        if o.ok:
            message = f"{'created' if o.created else 'updated'} product #{o.woo_id}"
        else:
            message = f"{action} failed: {o.message}"
        return entry(level="info" if o.ok else "error", action=action, status="synced" if o.ok else "failed",
                     connection_id=self.connection_id, run_id=self.run_id, sku=o.item.sku,
                     zoho_item_id=o.item.zoho_item_id, woo_id=o.woo_id or o.item.woo_id, message=message,
                     details=None if o.ok else {"code": o.error_code})


_items = SyncRunItem.__table__
_RECORD = (
    update(_items)
    .where(_items.c.id == bindparam("b_id"), _items.c.claim_token == bindparam("b_token"),
           # (executemany cannot expand an IN list)
           or_(_items.c.status == ItemStatus.PENDING, _items.c.status == ItemStatus.CANCELLED))
    .values(status=bindparam("b_status"), woo_id=bindparam("b_woo_id"), reason=bindparam("b_reason"),
            error_code=bindparam("b_code"))
)
_link_insert = pg_insert(ProductLink.__table__)
_UPSERT_LINK = _link_insert.on_conflict_do_update(
    index_elements=["connection_id", "kind", "zoho_id"],
    set_={"woo_id": _link_insert.excluded.woo_id, "sku": _link_insert.excluded.sku,
          "content_hash": _link_insert.excluded.content_hash, "synced_at": text("now()")},
)


def _explain(result: WriteResult) -> str:
    """The store's own code and message, with what to do where the code alone is cryptic."""
    message = f"{result.error_code}: {result.error_message}"
    if result.error_code == TRASHED_SKU and "lookup table" in (result.error_message or ""):
        message += " (a product in the store's Trash holds this SKU: restore it or empty the Trash)"
    return message


async def drive_batches(processor: BatchProcessor, concurrency: int) -> None:
    """`concurrency` claim-and-write loops sharing one driver token."""
    await asyncio.gather(*(processor.run_loop() for _ in range(concurrency)))
