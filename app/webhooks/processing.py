"""What webhook events and catch-ups do, called by thin worker jobs.

An event's payload is only a hint: the job fetches the item's authoritative state from Zoho and
upserts it through the manual sync's own path (`sync_items_now`). Events that arrive while the
job runs are not lost: the job reports a retry, and the next pass (usually a no-op thanks to the
content hash) settles them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, exists, func, select, text, update

from app.catalog.types import CatalogItem
from app.connections.clients import woo_client_for, zoho_client_for
from app.core.context import AppContext
from app.core.jobs import CATCH_UP, PROCESS_WEBHOOK_ITEM, webhook_job_id
from app.db.session import transaction
from app.integrations.woocommerce.errors import WooAuthError, WooError
from app.integrations.zoho.errors import ZohoAuthError, ZohoError, ZohoQuotaExhausted
from app.logs.service import entry, purge_logs, write_logs
from app.models import Connection, EventOutcome, ItemAction, ItemStatus, WebhookEvent
from app.syncs.immediate import ItemResult, sync_items_now

log = structlog.get_logger(__name__)
MAX_TRIES = 8


async def process_item_events(ctx: AppContext, connection_id: uuid.UUID, item_id: str, *, attempt: int = 1) -> float | None:
    """Sync one item for its queued events. Returns seconds after which to run again (events
    arrived meanwhile, or a vendor was unavailable), or None when done."""
    async with ctx.sessionmaker() as session:
        started = await session.scalar(select(func.now()))
        connection = await session.get(Connection, connection_id)
    if connection is None:
        await _settle(ctx, connection_id, item_id, started, EventOutcome.FAILED, "the connection was deleted")
        return None
    try:
        outcome, detail, run_id = await _sync_one(ctx, connection, item_id)
    except (ZohoAuthError, WooAuthError) as exc:
        outcome, detail, run_id = EventOutcome.FAILED, str(exc), None
    except (ZohoError, WooError) as exc:
        if attempt < MAX_TRIES and not isinstance(exc, ZohoQuotaExhausted):
            log.warning("webhook.retry", item_id=item_id, attempt=attempt, reason=str(exc))
            return min(60.0, 2.0 ** attempt)
        outcome, detail, run_id = EventOutcome.FAILED, str(exc), None
    await _settle(ctx, connection_id, item_id, started, outcome, detail, run_id=run_id)
    if await _newer_events(ctx, connection_id, item_id, started):
        return ctx.settings.webhook_coalesce_seconds or 0.1
    return None


async def _sync_one(ctx: AppContext, connection: Connection, item_id: str) -> tuple[str, str | None, uuid.UUID | None]:
    async with zoho_client_for(connection, ctx) as zoho, woo_client_for(connection, ctx) as woo:
        item = await zoho.get_item(item_id)
        if item is None:
            return EventOutcome.NOT_FOUND, "Zoho says this item does not exist", None
        run_id, results = await sync_items_now(ctx, connection, [item], kind="webhook", zoho=zoho, woo=woo)
    return (*_outcome_of(results[0]), run_id)


def _outcome_of(result: ItemResult) -> tuple[str, str | None]:
    if result.action == ItemAction.UNCHANGED:
        return EventOutcome.UNCHANGED, None
    if result.status == ItemStatus.SYNCED:
        return EventOutcome.SYNCED, f"{result.action}d" if result.action != ItemAction.SKIP else None
    if result.status == ItemStatus.SKIPPED:
        return EventOutcome.SKIPPED, result.reason
    return EventOutcome.FAILED, result.reason


async def _settle(ctx: AppContext, connection_id: uuid.UUID, item_id: str, started: datetime, outcome: str,
                  detail: str | None, *, run_id: uuid.UUID | None = None) -> None:
    """Give every event of the item received before this pass began its outcome."""
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(update(WebhookEvent).where(
            WebhookEvent.connection_id == connection_id, WebhookEvent.zoho_item_id == item_id,
            WebhookEvent.outcome == EventOutcome.QUEUED, WebhookEvent.received_at <= started,
        ).values(outcome=outcome, detail=detail, run_id=run_id, processed_at=func.now()))


async def _newer_events(ctx: AppContext, connection_id: uuid.UUID, item_id: str, started: datetime) -> bool:
    async with ctx.sessionmaker() as session:
        return bool(await session.scalar(select(exists().where(
            WebhookEvent.connection_id == connection_id, WebhookEvent.zoho_item_id == item_id,
            WebhookEvent.outcome == EventOutcome.QUEUED, WebhookEvent.received_at > started))))


async def catch_up(ctx: AppContext, connection_id: uuid.UUID) -> uuid.UUID | None:
    """Sync every item modified since the watermark (minus an overlap, deduplicated by item id),
    recorded as a small run; the watermark moves to this pass's start only when it succeeds."""
    async with ctx.sessionmaker() as session:
        started = await session.scalar(select(func.now()))
        connection = await session.get(Connection, connection_id)
    if connection is None or not connection.webhook_enabled:
        return None
    since = (connection.catchup_watermark or started) - timedelta(seconds=ctx.settings.catchup_overlap_seconds)
    try:
        async with zoho_client_for(connection, ctx) as zoho, woo_client_for(connection, ctx) as woo:
            items: dict[str, CatalogItem] = {}
            async for page in zoho.iter_item_pages(modified_since=since):
                items.update((item.zoho_item_id, item) for item in page)
            run_id, _ = await sync_items_now(ctx, connection, list(items.values()), kind="catchup", zoho=zoho, woo=woo)
    except (ZohoError, WooError) as exc:
        await _log(ctx, connection_id, "error", f"catch-up failed: {exc}")
        return None
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(update(Connection).where(Connection.id == connection_id)
                              .values(catchup_watermark=started, last_catchup_at=func.now()))
    await _log(ctx, connection_id, "info", f"catch-up synced {len(items)} items modified since {since:%Y-%m-%d %H:%M:%S}Z",
               run_id=run_id)
    return run_id


_STALE_EVENTS = text("""
    SELECT DISTINCT connection_id, zoho_item_id FROM webhook_events
    WHERE outcome = 'queued' AND received_at < now() - make_interval(secs => :age)
    LIMIT 1000
""")


async def requeue_stale_events(ctx: AppContext, *, age_seconds: float = 30.0) -> int:
    """Events still queued long after arrival (their enqueue met a job that was just finishing)
    get their job again; an id already queued makes this a no-op."""
    async with ctx.sessionmaker() as session:
        rows = (await session.execute(_STALE_EVENTS, {"age": age_seconds})).all()
    for connection_id, item_id in rows:
        await ctx.redis.enqueue_job(PROCESS_WEBHOOK_ITEM, str(connection_id), item_id,
                                    _job_id=webhook_job_id(connection_id, item_id))
    return len(rows)


_DUE = text("""
    SELECT id FROM connections
    WHERE webhook_enabled AND webhook_active
      AND (last_catchup_at IS NULL OR last_catchup_at <
           now() - make_interval(mins => coalesce((settings->>'catchup_interval_minutes')::int, 15)))
""")


async def schedule_catchups(ctx: AppContext) -> int:
    """Enqueue a catch-up for every connection whose interval has passed (one per interval)."""
    async with ctx.sessionmaker() as session:
        due = list((await session.execute(_DUE)).scalars())
    for connection_id in due:
        await ctx.redis.enqueue_job(CATCH_UP, str(connection_id), _job_id=f"catchup:{connection_id}:scheduled")
    return len(due)


async def purge_old_records(ctx: AppContext) -> tuple[int, int]:
    """Drop webhook events and log entries older than the retention period."""
    cutoff = datetime.now().astimezone() - timedelta(days=ctx.settings.retention_days)
    async with transaction(ctx.sessionmaker) as session:
        events = (await session.execute(delete(WebhookEvent).where(WebhookEvent.received_at < cutoff))).rowcount
        logs = await purge_logs(session, older_than=cutoff)
    return events or 0, logs


async def _log(ctx: AppContext, connection_id: uuid.UUID, level: str, message: str, *,
               run_id: uuid.UUID | None = None) -> None:
    async with transaction(ctx.sessionmaker) as session:
        await write_logs(session, [entry(level=level, action="catchup", status="completed" if level == "info" else "failed",
                                         connection_id=connection_id, run_id=run_id, message=message)])
