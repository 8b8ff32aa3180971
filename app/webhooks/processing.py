"""What webhook events and catch-ups do, called by thin worker jobs.

An event's payload is only a hint: the job fetches the items' authoritative state from Zoho and
upserts them through the manual sync's own path (`sync_items_now`). There is one job per
connection (its arq job id), so a burst of events, for one item or for many, becomes one pass:
one `/itemdetails` call per 100 items and one store batch, which keeps webhooks inside Zoho's
100 calls a minute. Events that arrive while the job runs are not lost: the job reports a
retry, and the next pass (a no-op for unchanged items, thanks to the content hash) settles them.

Only a verdict fails an event: credentials refused, the connection deleted, or the store or
Zoho refusing the item itself. An unavailable, throttled or out-of-quota vendor keeps the
events queued and the pass comes back later, waiting twice as long each time up to
`webhook_retry_cap_seconds`. An event still failed or queued whose item a later run wrote
(a pass, a catch-up or a manual sync) takes that run's outcome and run id.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Boolean, and_, bindparam, delete, func, or_, select, text, update

from app.catalog.types import CatalogItem
from app.connections.adapters import adapters_for
from app.core.context import AppContext
from app.core.jobs import (
    CATCH_UP,
    PROCESS_WEBHOOK_EVENTS,
    catchup_job_id,
    hold_in_progress,
    in_progress_key,
    renew_keys,
    webhook_recovery_job_id,
)
from app.db.session import transaction
from app.logs.service import entry, purge_logs, write_logs
from app.models import Connection, EventOutcome, ItemAction, ItemStatus, Preview, WebhookEvent
from app.ports.errors import AuthRefused, ForbiddenTarget, VendorError
from app.syncs.immediate import ItemResult, sync_items_now

log = structlog.get_logger(__name__)
MAX_PASS_ITEMS = 500
LOCK_WAIT_S = 0.2  # another pass holds the connection: look again this soon
FAILURES_TTL_S = 86_400


def _pass_lock(connection_id: uuid.UUID) -> str:
    return f"skubridge:webhook-pass:{connection_id}"


def _backoff_key(connection_id: uuid.UUID) -> str:
    return f"skubridge:webhook-backoff:{connection_id}"


def _failures_key(connection_id: uuid.UUID) -> str:
    return f"skubridge:webhook-failures:{connection_id}"


async def process_events(ctx: AppContext, connection_id: uuid.UUID, *, job_id: str | None = None) -> float | None:
    """Sync every item with queued events of one connection: their authoritative state from
    Zoho in one `/itemdetails` call per 100 items, written through the manual sync's path.
    Returns seconds after which to run again (more events arrived, another pass holds the
    connection, or a vendor was unavailable), or None when nothing is left.

    One pass per connection at a time (two could both create the same new product): a Redis
    lock, and with it arq's in-progress key of `job_id`, live one lease at a time and are
    renewed while the pass runs, so a pass killed with its worker holds the connection for a
    lease, not for arq's 12 h."""
    lease = ctx.settings.lease_seconds
    running = {in_progress_key(job_id): ""} if job_id else {}
    await renew_keys(ctx.redis, running, ttl_ms=int(lease * 1000))
    if waiting := await _backoff_left(ctx, connection_id):
        return waiting
    lock, token = _pass_lock(connection_id), secrets.token_hex(8)
    if not await ctx.redis.set(lock, token, nx=True, px=int(lease * 1000)):
        return LOCK_WAIT_S
    try:
        async with hold_in_progress(ctx.redis, running | {lock: token}, ttl_seconds=lease):
            return await _pass(ctx, connection_id)
    finally:
        await ctx.redis.eval(_RELEASE, 1, lock, token)


_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


async def _pass(ctx: AppContext, connection_id: uuid.UUID) -> float | None:
    async with ctx.sessionmaker() as session:
        started = await session.scalar(select(func.now()))
        connection = await session.get(Connection, connection_id)
        item_ids = list((await session.execute(_QUEUED_ITEMS, {"connection_id": connection_id, "started": started,
                                                               "size": MAX_PASS_ITEMS})).scalars())
    if not item_ids:
        return None
    if connection is None:
        await _settle(ctx, connection_id, started, _verdict(item_ids, EventOutcome.FAILED, "the connection was deleted"))
        return None
    try:
        outcomes, run_id = await _sync_items(ctx, connection, item_ids)
    # Verdicts: retrying cannot help. The events fail with the reason; once the connection is
    # fixed, the catch-up finds the changes they announced.
    except (AuthRefused, ForbiddenTarget) as exc:
        await _settle(ctx, connection_id, started, _verdict(item_ids, EventOutcome.FAILED, str(exc)))
        return None
    except VendorError as exc:  # unavailable, throttled or out of quota: wait, keep them queued
        return await _back_off(ctx, connection_id, reason=str(exc), items=len(item_ids))
    missing = (EventOutcome.NOT_FOUND, "Zoho says this item does not exist")
    await _settle(ctx, connection_id, started, [(i, *outcomes.get(i, missing), run_id if i in outcomes else None)
                                                for i in item_ids])
    await ctx.redis.delete(_failures_key(connection_id))
    if await _more_events(ctx, connection_id):
        return ctx.settings.webhook_coalesce_seconds or 0.1
    return None


_QUEUED_ITEMS = text("""
    SELECT DISTINCT zoho_item_id FROM webhook_events
    WHERE connection_id = :connection_id AND outcome = 'queued' AND received_at <= :started
    LIMIT :size
""")


async def _backoff_left(ctx: AppContext, connection_id: uuid.UUID) -> float | None:
    """Seconds left of the connection's back-off, whichever job id set it."""
    left = await ctx.redis.pttl(_backoff_key(connection_id))
    return left / 1000 if left > 0 else None


async def _back_off(ctx: AppContext, connection_id: uuid.UUID, *, reason: str, items: int) -> float:
    """Wait twice as long as after the previous failure, up to the cap; the events stay queued.
    The count lives in Redis, not in arq's job_try, which also counts lock waits and follow-ups."""
    async with ctx.redis.pipeline(transaction=True) as pipe:
        pipe.incr(_failures_key(connection_id))
        pipe.expire(_failures_key(connection_id), FAILURES_TTL_S)
        failures, _ = await pipe.execute()
    delay = min(ctx.settings.webhook_retry_cap_seconds, 2.0 ** min(int(failures), 30))
    await ctx.redis.set(_backoff_key(connection_id), "1", px=max(1, int(delay * 1000)))
    log.warning("webhook.retry", items=items, failures=int(failures), delay=delay, reason=reason)
    return delay


async def _sync_items(ctx: AppContext, connection: Connection, item_ids: list[str],
                      ) -> tuple[dict[str, tuple[str, str | None]], uuid.UUID | None]:
    async with adapters_for(connection, ctx) as adapters:
        items = await adapters.catalog.get_item_details(item_ids)
        if not items:
            return {}, None
        run_id, results = await sync_items_now(ctx, connection, items, kind="webhook", adapters=adapters)
    return {r.zoho_item_id: _outcome_of(r) for r in results}, run_id


def _outcome_of(result: ItemResult) -> tuple[str, str | None]:
    if result.action == ItemAction.UNCHANGED:
        return EventOutcome.UNCHANGED, None
    if result.status == ItemStatus.SYNCED:
        return EventOutcome.SYNCED, f"{result.action}d"
    if result.status == ItemStatus.SKIPPED:
        return EventOutcome.SKIPPED, result.reason
    return EventOutcome.FAILED, result.reason


Settled = tuple[str, str, str | None, uuid.UUID | None]  # item id, outcome, detail, run id


def _verdict(item_ids: list[str], outcome: str, detail: str) -> list[Settled]:
    return [(item_id, outcome, detail, None) for item_id in item_ids]


async def _settle(ctx: AppContext, connection_id: uuid.UUID, started: datetime, rows: list[Settled]) -> None:
    """Give the items' events received before `started` their outcome (one statement, executed
    for every item). A run that wrote an item (or found it already in step) also settles its
    older failed events: what failed then is done now."""
    if not rows:
        return
    params = [{"b_connection": connection_id, "b_started": started, "b_item": item_id, "b_outcome": outcome,
               "b_detail": detail, "b_run": run_id,
               "b_done": outcome in (EventOutcome.SYNCED, EventOutcome.UNCHANGED)}
              for item_id, outcome, detail, run_id in rows]
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(_SETTLE, params, execution_options={"synchronize_session": False})


_events = WebhookEvent.__table__
_SETTLE = (
    update(_events)
    .where(_events.c.connection_id == bindparam("b_connection"), _events.c.zoho_item_id == bindparam("b_item"),
           _events.c.received_at <= bindparam("b_started"),
           or_(_events.c.outcome == EventOutcome.QUEUED,
               and_(_events.c.outcome == EventOutcome.FAILED, bindparam("b_done", type_=Boolean))))
    .values(outcome=bindparam("b_outcome"), detail=bindparam("b_detail"), run_id=bindparam("b_run"),
            processed_at=func.now())
)


# 'queued' is written out, not bound, in the queries on queued events: the planner only uses the
# partial index ix_webhook_events_queued when it can see that the WHERE implies its predicate.
_MORE_EVENTS = text("""
    SELECT EXISTS (SELECT 1 FROM webhook_events WHERE connection_id = :connection_id AND outcome = 'queued')
""")


async def _more_events(ctx: AppContext, connection_id: uuid.UUID) -> bool:
    async with ctx.sessionmaker() as session:
        return bool(await session.scalar(_MORE_EVENTS, {"connection_id": connection_id}))


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
        async with adapters_for(connection, ctx) as adapters:
            items: dict[str, CatalogItem] = {}
            async for page in adapters.catalog.iter_item_pages(modified_since=since):
                items.update((item.zoho_item_id, item) for item in page)
            run_id, results = await sync_items_now(ctx, connection, list(items.values()), kind="catchup",
                                                   adapters=adapters)
    except VendorError as exc:
        await _log(ctx, connection_id, "error", f"catch-up failed: {exc}")
        return None
    # Zoho was read after `started`: events received before it are for changes this run saw.
    done = [(r.zoho_item_id, *_outcome_of(r), run_id) for r in results
            if r.status == ItemStatus.SYNCED and r.zoho_item_id in items]
    await _settle(ctx, connection_id, started, done)
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


def stale_after(ctx: AppContext) -> float:
    """How long an event may stay queued before its job counts as lost: two leases (a killed
    pass holds its connection for one), at most 30 s."""
    return min(30.0, 2 * ctx.settings.lease_seconds)


async def requeue_stale_events(ctx: AppContext, *, age_seconds: float | None = None) -> int:
    """Events still queued long after arrival (their enqueue met a job just finishing, or a job
    died with its worker) get a job under a fresh id, which no dead job's in-progress key can
    block. A connection whose pass is running or backing off is left alone. How many jobs."""
    age = stale_after(ctx) if age_seconds is None else age_seconds
    async with ctx.sessionmaker() as session:
        connections = list((await session.execute(_STALE_EVENTS, {"age": age})).scalars())
    enqueued = 0
    for connection_id in connections:
        if await ctx.redis.exists(_pass_lock(connection_id), _backoff_key(connection_id)):
            continue
        job_id = webhook_recovery_job_id(connection_id, bucket_seconds=max(age, 1.0))
        if await ctx.redis.enqueue_job(PROCESS_WEBHOOK_EVENTS, str(connection_id), _job_id=job_id):
            enqueued += 1
    return enqueued


_WRITTEN_BY_MANUAL_RUNS = text("""
    UPDATE webhook_events e
    SET outcome = CASE WHEN i.action = 'unchanged' THEN 'unchanged' ELSE 'synced' END,
        detail = CASE WHEN i.action = 'unchanged' THEN NULL ELSE i.action || 'd' END,
        run_id = r.id, processed_at = now()
    FROM sync_runs r JOIN sync_run_items i ON i.run_id = r.id AND i.status = 'synced'
    WHERE r.kind = 'manual' AND r.status = 'completed' AND r.finished_at > :since AND r.finished_at <= :until
      AND e.connection_id = r.connection_id AND e.zoho_item_id = i.zoho_item_id
      AND e.outcome IN ('queued', 'failed') AND e.received_at <= r.started_at
""")
_SETTLED_UNTIL = "skubridge:webhook-events-settled-until"


async def settle_events_written_by_manual_runs(ctx: AppContext) -> int:
    """Failed or queued events whose item a manual run finished since the last call wrote take
    that run's outcome (passes and catch-ups settle theirs as they go). Driven by the runs, so
    it reads their items and the events of those items only."""
    async with transaction(ctx.sessionmaker) as session:
        until = await session.scalar(select(func.now()))
        stored = await ctx.redis.get(_SETTLED_UNTIL)
        since = datetime.fromisoformat(stored.decode()) if stored else until - timedelta(days=1)
        settled = (await session.execute(_WRITTEN_BY_MANUAL_RUNS, {"since": since, "until": until})).rowcount
    await ctx.redis.set(_SETTLED_UNTIL, until.isoformat())
    return settled or 0


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
        await ctx.redis.enqueue_job(CATCH_UP, str(connection_id), _job_id=catchup_job_id(connection_id, scheduled=True))
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
