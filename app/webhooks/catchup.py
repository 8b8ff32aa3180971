"""The catch-up: what webhooks may have missed, found by asking Zoho what changed.

Every `catchup_interval_minutes` (15 by default) a connection with an active webhook syncs
every item Zoho modified since its watermark, recorded as a small run; the watermark moves
only when the catch-up succeeds, so a failed one is covered by the next.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, text, update

from app.catalog.types import CatalogItem
from app.connections.adapters import adapters_for
from app.connections.links import mark_needs_reconnect, reconnect_needed, state_of
from app.core.context import AppContext
from app.core.jobs import CATCH_UP, catchup_job_id
from app.db.session import db_now, transaction
from app.logs.service import entry, write_logs
from app.models import Connection, ItemStatus
from app.ports.errors import VendorError
from app.syncs.immediate import sync_items_now
from app.webhooks.outcomes import Settled, outcome_of, settle


async def catch_up(ctx: AppContext, connection_id: uuid.UUID) -> uuid.UUID | None:
    """Sync every item modified since the watermark (minus an overlap, deduplicated by item id),
    recorded as a small run; the watermark moves to this pass's start only when it succeeds."""
    async with ctx.sessionmaker() as session:
        started = await db_now(session)
        connection = await session.get(Connection, connection_id)
    if connection is None or not connection.webhook_enabled:
        return None
    if (refusal := state_of(connection, ctx.keyring).refusal) is not None:
        await _log(ctx, connection_id, "warning", f"catch-up skipped: {refusal}")
        return None
    since = (connection.catchup_watermark or started) - timedelta(seconds=ctx.settings.catchup_overlap_seconds)
    try:
        async with adapters_for(connection, ctx) as adapters:
            items: dict[str, CatalogItem] = {}
            async for page in adapters.catalog.iter_item_pages(modified_since=since):
                items.update((item.zoho_item_id, item) for item in page)
            run_id, results = await sync_items_now(ctx, connection, list(items.values()), kind="catchup",
                                                   adapters=adapters)
    except VendorError as exc:
        if (refused := reconnect_needed(exc)) is not None:
            await mark_needs_reconnect(ctx, connection_id, refused.message)
        await _log(ctx, connection_id, "error", f"catch-up failed: {exc}")
        return None
    # Zoho was read after `started`: events received before it are for changes this run saw.
    done: list[Settled] = [(r.zoho_item_id, *outcome_of(r), run_id) for r in results
                           if r.status == ItemStatus.SYNCED and r.zoho_item_id in items]
    await settle(ctx, connection_id, started, done)
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(update(Connection).where(Connection.id == connection_id)
                              .values(catchup_watermark=started, last_catchup_at=func.now()))
    await _log(ctx, connection_id, "info",
               f"catch-up synced {len(items)} items modified since {since:%Y-%m-%d %H:%M:%S}Z", run_id=run_id)
    return run_id


_DUE = text("""
    SELECT id FROM connections
    WHERE webhook_enabled AND webhook_active AND zoho_reconnect_reason IS NULL
      AND (last_catchup_at IS NULL OR last_catchup_at <
           now() - make_interval(mins => coalesce((settings->>'catchup_interval_minutes')::int, 15)))
""")


async def schedule_catchups(ctx: AppContext) -> int:
    """Enqueue a catch-up for every connection whose interval has passed (one per interval)."""
    async with ctx.sessionmaker() as session:
        due = list((await session.execute(_DUE)).scalars())
    for connection_id in due:
        await ctx.redis.enqueue_job(CATCH_UP, str(connection_id), _job_id=catchup_job_id(connection_id, scheduled=True))
    return len(due)


async def _log(ctx: AppContext, connection_id: uuid.UUID, level: str, message: str, *,
               run_id: uuid.UUID | None = None) -> None:
    async with transaction(ctx.sessionmaker) as session:
        status = {"info": "completed", "warning": "skipped"}.get(level, "failed")
        await write_logs(session, [entry(level=level, action="catchup", status=status, connection_id=connection_id,
                                         run_id=run_id, message=message)])
