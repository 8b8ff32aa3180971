"""What webhook events and catch-ups do, called by thin worker jobs.

An event's payload is only a hint: the job fetches the items' authoritative state from Zoho and
upserts them through the manual sync's own path (`sync_items_now`). There is one job per
connection (its arq job id), so a burst of events, for one item or for many, becomes one pass:
one `/itemdetails` call per 100 items and one store batch, which keeps webhooks inside Zoho's
100 calls a minute. Events that arrive while the job runs are not lost: the job reports a
retry, and the next pass (a no-op for unchanged items, thanks to the content hash) settles them.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

import structlog
from sqlalchemy import bindparam, delete, exists, func, select, text, update

from app.catalog.types import CatalogItem
from app.connections.clients import woo_client_for, zoho_client_for
from app.core.context import AppContext
from app.core.jobs import CATCH_UP, PROCESS_WEBHOOK_EVENTS, webhook_job_id
from app.db.session import transaction
from app.integrations.woocommerce.errors import WooAuthError, WooError
from app.integrations.zoho.errors import ZohoAuthError, ZohoError, ZohoQuotaExhausted
from app.logs.service import entry, purge_logs, write_logs
from app.models import Connection, EventOutcome, ItemAction, ItemStatus, Preview, WebhookEvent
from app.syncs.immediate import ItemResult, sync_items_now

log = structlog.get_logger(__name__)
MAX_TRIES = 8
PASS_LOCK_MS = 300_000  # a pass that dies holding the lock delays its connection's events this long at most


async def process_events(ctx: AppContext, connection_id: uuid.UUID, *, attempt: int = 1) -> float | None:
    """Sync every item with queued events of one connection: their authoritative state from
    Zoho in one `/itemdetails` call per 100 items, written through the manual sync's path.
    Returns seconds after which to run again (more events arrived, another pass holds the
    connection, or a vendor was unavailable), or None when nothing is left."""
    lock, token = f"skubridge:webhook-pass:{connection_id}", secrets.token_hex(8)
    # One pass per connection at a time: two could both create the same new product.
    if not await ctx.redis.set(lock, token, nx=True, px=PASS_LOCK_MS):
        return 0.2
    try:
        return await _pass(ctx, connection_id, attempt)
    finally:
        await ctx.redis.eval(_RELEASE, 1, lock, token)


_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


async def _pass(ctx: AppContext, connection_id: uuid.UUID, attempt: int) -> float | None:
    async with ctx.sessionmaker() as session:
        started = await session.scalar(select(func.now()))
        connection = await session.get(Connection, connection_id)
        item_ids = list((await session.execute(_QUEUED_ITEMS, {"connection_id": connection_id,
                                                               "started": started})).scalars())
    if not item_ids:
        return None
    if connection is None:
        await _settle(ctx, connection_id, item_ids, started, {}, default=(EventOutcome.FAILED, "the connection was deleted"))
        return None
    try:
        outcomes, run_id = await _sync_items(ctx, connection, item_ids)
    except (ZohoAuthError, WooAuthError) as exc:
        await _settle(ctx, connection_id, item_ids, started, {}, default=(EventOutcome.FAILED, str(exc)))
        return None
    except (ZohoError, WooError) as exc:
        if attempt < MAX_TRIES and not isinstance(exc, ZohoQuotaExhausted):
            log.warning("webhook.retry", items=len(item_ids), attempt=attempt, reason=str(exc))
            return min(60.0, 2.0 ** attempt)
        await _settle(ctx, connection_id, item_ids, started, {}, default=(EventOutcome.FAILED, str(exc)))
        return None
    await _settle(ctx, connection_id, item_ids, started, outcomes, run_id=run_id,
                  default=(EventOutcome.NOT_FOUND, "Zoho says this item does not exist"))
    if await _more_events(ctx, connection_id):
        return ctx.settings.webhook_coalesce_seconds or 0.1
    return None


_QUEUED_ITEMS = text("""
    SELECT DISTINCT zoho_item_id FROM webhook_events
    WHERE connection_id = :connection_id AND outcome = 'queued' AND received_at <= :started
    LIMIT 500
""")


async def _sync_items(ctx: AppContext, connection: Connection, item_ids: list[str],
                      ) -> tuple[dict[str, tuple[str, str | None]], uuid.UUID | None]:
    async with zoho_client_for(connection, ctx) as zoho, woo_client_for(connection, ctx) as woo:
        items = await zoho.get_item_details(item_ids)
        if not items:
            return {}, None
        run_id, results = await sync_items_now(ctx, connection, items, kind="webhook", zoho=zoho, woo=woo)
    return {r.zoho_item_id: _outcome_of(r) for r in results}, run_id


def _outcome_of(result: ItemResult) -> tuple[str, str | None]:
    if result.action == ItemAction.UNCHANGED:
        return EventOutcome.UNCHANGED, None
    if result.status == ItemStatus.SYNCED:
        return EventOutcome.SYNCED, f"{result.action}d"
    if result.status == ItemStatus.SKIPPED:
        return EventOutcome.SKIPPED, result.reason
    return EventOutcome.FAILED, result.reason


async def _settle(ctx: AppContext, connection_id: uuid.UUID, item_ids: list[str], started: datetime,
                  outcomes: dict[str, tuple[str, str | None]], *, default: tuple[str, str | None],
                  run_id: uuid.UUID | None = None) -> None:
    """Give the items' events received before this pass began their outcome (one statement,
    executed for every item)."""
    rows = []
    for item_id in item_ids:
        outcome, detail = outcomes.get(item_id, default)
        rows.append({"b_item": item_id, "b_outcome": outcome, "b_detail": detail,
                     "b_run": run_id if item_id in outcomes else None})
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(_SETTLE, [row | {"b_connection": connection_id, "b_started": started} for row in rows],
                              execution_options={"synchronize_session": False})


_events = WebhookEvent.__table__
_SETTLE = (
    update(_events)
    .where(_events.c.connection_id == bindparam("b_connection"), _events.c.zoho_item_id == bindparam("b_item"),
           _events.c.outcome == EventOutcome.QUEUED, _events.c.received_at <= bindparam("b_started"))
    .values(outcome=bindparam("b_outcome"), detail=bindparam("b_detail"), run_id=bindparam("b_run"),
            processed_at=func.now())
)


async def _more_events(ctx: AppContext, connection_id: uuid.UUID) -> bool:
    async with ctx.sessionmaker() as session:
        return bool(await session.scalar(select(exists().where(
            WebhookEvent.connection_id == connection_id, WebhookEvent.outcome == EventOutcome.QUEUED))))


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
    SELECT DISTINCT connection_id FROM webhook_events
    WHERE outcome = 'queued' AND received_at < now() - make_interval(secs => :age)
""")


async def requeue_stale_events(ctx: AppContext, *, age_seconds: float = 30.0) -> int:
    """Events still queued long after arrival (their enqueue met a job that was just finishing)
    get their job again; an id already queued makes this a no-op."""
    async with ctx.sessionmaker() as session:
        rows = (await session.execute(_STALE_EVENTS, {"age": age_seconds})).all()
    for (connection_id,) in rows:
        await ctx.redis.enqueue_job(PROCESS_WEBHOOK_EVENTS, str(connection_id), _job_id=webhook_job_id(connection_id))
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
    """Drop webhook events, log entries and previews older than the retention period."""
    cutoff = datetime.now().astimezone() - timedelta(days=ctx.settings.retention_days)
    async with transaction(ctx.sessionmaker) as session:
        events = (await session.execute(delete(WebhookEvent).where(WebhookEvent.received_at < cutoff))).rowcount
        logs = await purge_logs(session, older_than=cutoff)
        await session.execute(delete(Preview).where(Preview.created_at < cutoff))
    return events or 0, logs


async def _log(ctx: AppContext, connection_id: uuid.UUID, level: str, message: str, *,
               run_id: uuid.UUID | None = None) -> None:
    async with transaction(ctx.sessionmaker) as session:
        await write_logs(session, [entry(level=level, action="catchup", status="completed" if level == "info" else "failed",
                                         connection_id=connection_id, run_id=run_id, message=message)])
