"""Preview: what a sync would do right now, per SKU, without writing anything.

It runs the manual sync's own planner (same catalogue read, same matching, same skip reasons,
same drafts), then reads the store's current records of everything the plan would update and
compares them field by field. The answer for each item is the action the sync would take and,
for updates and creates, the fields it would set with the store's value and Zoho's.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.types import StoreSettings
from app.connections.adapters import adapters_for
from app.core.context import AppContext
from app.core.errors import NotFound
from app.core.jobs import RUN_PREVIEW, defer_job, hold_in_progress, job_key, preview_job_id
from app.db.session import rows_touched, transaction
from app.models import Connection, ItemAction, ItemKind, Preview
from app.ports.store import Fields, Store
from app.previews.diff import differences
from app.syncs.media import Known, media_for, with_known_media
from app.syncs.plan import PlannedItem
from app.syncs.planner import fetch_catalogue, plan_items

log = structlog.get_logger(__name__)


REQUEUED = "its job was lost; computing it again"
LOST = "its job was lost twice; start a new preview"


def _alive_key(preview_id: uuid.UUID) -> str:
    return f"skubridge:preview-alive:{preview_id}"


async def run_preview(ctx: AppContext, preview_id: uuid.UUID) -> None:
    """Compute a queued preview and record its result or why it failed. While it runs, a key
    renewed every third of a lease says so: `recover_lost_previews` tells a preview whose
    worker died from one still being computed by that key."""
    async with hold_in_progress(ctx.redis, {_alive_key(preview_id): ""}, ttl_seconds=ctx.settings.lease_seconds):
        await ctx.redis.set(_alive_key(preview_id), "1", px=int(ctx.settings.lease_seconds * 1000))
        async with transaction(ctx.sessionmaker) as session:
            preview = await session.get(Preview, preview_id, with_for_update=True)
            if preview is None or preview.status != "queued":
                return
            preview.status = "running"
            connection = await session.get(Connection, preview.connection_id)
        assert connection is not None
        rows, status, reason = await _outcome(ctx, connection, preview_id)
        summary = dict(Counter(r["action"] for r in rows)) if rows is not None else None
        async with transaction(ctx.sessionmaker) as session:
            await session.execute(text("""
                UPDATE previews SET status = :status, reason = :reason, summary = CAST(:summary AS jsonb),
                       result = CAST(:result AS jsonb), finished_at = now() WHERE id = :id AND status = 'running'
            """), {"status": status, "reason": reason, "id": preview_id, "summary": _json(summary),
                   "result": _json(rows)})


async def _outcome(ctx: AppContext, connection: Connection, preview_id: uuid.UUID,
                   ) -> tuple[list[dict[str, Any]] | None, str, str | None]:
    try:
        return await _compute(ctx, connection), "completed", None
    except Exception as exc:  # noqa: BLE001 - the preview records why it failed
        log.warning("preview.failed", preview_id=str(preview_id), error=str(exc))
        return None, "failed", getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"


_UNFINISHED = text("""
    SELECT id, status, reason FROM previews
    WHERE status IN ('queued', 'running') AND created_at < now() - make_interval(secs => :age)
""")
# Guards in SQL: a preview that moved on since it was read (its job started or finished) is left alone.
_REQUEUE = text("""
    UPDATE previews SET status = 'queued', reason = :requeued
    WHERE id = :id AND status = :status AND reason IS DISTINCT FROM :requeued
""")
_FAIL_LOST = text("""
    UPDATE previews SET status = 'failed', reason = :lost, finished_at = now()
    WHERE id = :id AND status = :status AND reason = :requeued
""")


async def recover_lost_previews(ctx: AppContext) -> int:
    """Previews queued or running for longer than two leases whose job is gone (no arq job
    left for a queued one, no live worker for a running one) are enqueued once more, under a
    fresh job id; lost a second time, they fail with the reason. How many were recovered or
    failed."""
    async with ctx.sessionmaker() as session:
        rows = (await session.execute(_UNFINISHED, {"age": 2 * ctx.settings.lease_seconds})).all()
    handled = 0
    for preview_id, status, _reason in rows:
        if not await _lost(ctx, preview_id, status):
            continue
        params = {"id": preview_id, "status": status, "requeued": REQUEUED, "lost": LOST}
        async with transaction(ctx.sessionmaker) as session:
            requeued = rows_touched(await session.execute(_REQUEUE, params))
            failed = 0 if requeued else rows_touched(await session.execute(_FAIL_LOST, params))
        if requeued:
            await ctx.redis.enqueue_job(RUN_PREVIEW, str(preview_id), _job_id=preview_job_id(preview_id, retry=True))
        log.warning("preview.lost", preview_id=str(preview_id), requeued=bool(requeued), failed=bool(failed))
        handled += requeued + failed
    return handled


async def _lost(ctx: AppContext, preview_id: uuid.UUID, status: str) -> bool:
    if status == "running":
        return not await ctx.redis.exists(_alive_key(preview_id))
    return not await ctx.redis.exists(job_key(preview_job_id(preview_id)),
                                      job_key(preview_job_id(preview_id, retry=True)))


async def _compute(ctx: AppContext, connection: Connection) -> list[dict[str, Any]]:
    async with adapters_for(connection, ctx) as adapters:
        store = adapters.store
        settings = await store.get_store_settings()
        plan = await plan_items(ctx, connection, await fetch_catalogue(adapters.catalog), catalog=adapters.catalog,
                                store=store, store_settings=settings)
        media = await media_for(ctx, connection.id, (r.payload.fields for r in plan.rows if r.payload))
        stored = await _store_records(store, plan.rows)
        return [_describe(row, stored, media, store, settings) for row in plan.rows]


async def _store_records(store: Store, rows: list[PlannedItem]) -> dict[int, Fields]:
    """Current fields of what the plan would update: products, and variations per parent."""
    updates = [r for r in rows if r.action == ItemAction.UPDATE and r.store_id]
    product_ids = [r.store_id for r in updates if r.kind != ItemKind.VARIATION and r.store_id]
    heads = {r.head: r.store_id for r in rows if r.kind == ItemKind.VARIABLE}
    parents = {heads.get(r.head) for r in updates if r.kind == ItemKind.VARIATION}
    return await store.current_fields(product_ids, [p for p in parents if p is not None])


def _describe(row: PlannedItem, stored: dict[int, Fields], media: Known, store: Store,
              settings: StoreSettings) -> dict[str, Any]:
    action = str(row.action)
    result: dict[str, Any] = {"sku": row.sku, "zoho_item_id": row.zoho_item_id, "kind": str(row.kind),
                              "name": row.name[:2000], "action": action, "reason": row.reason,
                              "store_id": row.store_id, "changes": []}
    if row.group_id is not None:
        result["group"] = row.group_id
    if row.parent_store_id is not None:
        result["parent_store_id"] = row.parent_store_id
    if action not in (ItemAction.CREATE, ItemAction.UPDATE) or row.payload is None:
        return result
    draft = dict(row.payload.fields)
    if action == ItemAction.CREATE:
        draft |= row.payload.create
    intended = store.intended_fields(with_known_media(draft, media), settings=settings)
    record = stored.get(row.store_id) if action == ItemAction.UPDATE and row.store_id else None
    if action == ItemAction.UPDATE and record is None:
        result["reason"] = result["reason"] or "the linked product could not be read from the store"
    result["changes"] = differences(intended, record, store.comparison)
    return result


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


async def start_preview(session: AsyncSession, connection: Connection) -> Preview:
    """Queue a preview of the connection; its job is enqueued once the transaction commits."""
    preview = Preview(connection_id=connection.id, status="queued")
    session.add(preview)
    await session.flush()
    await session.refresh(preview)
    defer_job(session, RUN_PREVIEW, str(preview.id), job_id=preview_job_id(preview.id))
    return preview


async def latest_preview(session: AsyncSession, connection_id: uuid.UUID) -> Preview | None:
    """The connection's newest preview, if it has one."""
    return await session.scalar(select(Preview).where(Preview.connection_id == connection_id)
                                .order_by(Preview.created_at.desc(), Preview.id.desc()).limit(1))


def preview_items(preview: Preview, filters: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """The preview's items whose fields equal the given values (case-insensitive); None is no filter."""
    rows = preview.result or []
    for key, value in filters.items():
        if value is not None:
            rows = [r for r in rows if str(r.get(key) or "").lower() == value.lower()]
    return rows


async def get_preview(session: AsyncSession, preview_id: uuid.UUID) -> Preview:
    preview = await session.scalar(select(Preview).where(Preview.id == preview_id))
    if preview is None:
        raise NotFound(f"no preview {preview_id}")
    return preview

