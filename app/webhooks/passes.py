"""A connection's pass over its queued webhook events, called by a thin worker job.

An event's payload is only a hint: the pass fetches the items' authoritative state from Zoho and
upserts them through the manual sync's own path (`sync_items_now`). There is one job per
connection (its arq job id), so a burst of events, for one item or for many, becomes one pass:
one `/itemdetails` call per 100 items and one store batch, which keeps webhooks inside Zoho's
100 calls a minute. Events that arrive while the job runs are not lost: the job reports a
retry, and the next pass (a no-op for unchanged items, thanks to the content hash) settles them.

Only a verdict fails an event: credentials refused, the connection deleted, or the store or
Zoho refusing the item itself. An unavailable, throttled or out-of-quota vendor keeps the
events queued and the pass comes back later, waiting twice as long each time up to
`webhook_retry_cap_seconds`. How the events then get their outcome: app/webhooks/outcomes.py.
"""

from __future__ import annotations

import secrets
import uuid

import structlog
from sqlalchemy import text

from app.connections.adapters import adapters_for
from app.connections.links import mark_needs_reconnect, reconnect_needed, state_of
from app.core.context import AppContext
from app.core.jobs import hold_in_progress, in_progress_key, renew_keys
from app.core.scripts import run_script
from app.db.session import db_now
from app.models import Connection, EventOutcome
from app.ports.errors import AuthRefused, ForbiddenTarget, VendorError
from app.syncs.immediate import sync_items_now
from app.webhooks.outcomes import outcome_of, settle, verdict

log = structlog.get_logger(__name__)
MAX_PASS_ITEMS = 500
LOCK_WAIT_S = 0.2  # another pass holds the connection: look again this soon
FAILURES_TTL_S = 86_400


def pass_lock_key(connection_id: uuid.UUID) -> str:
    return f"skubridge:webhook-pass:{connection_id}"


def backoff_key(connection_id: uuid.UUID) -> str:
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
    lock, token = pass_lock_key(connection_id), secrets.token_hex(8)
    if not await ctx.redis.set(lock, token, nx=True, px=int(lease * 1000)):
        return LOCK_WAIT_S
    try:
        async with hold_in_progress(ctx.redis, running | {lock: token}, ttl_seconds=lease):
            return await _pass(ctx, connection_id)
    finally:
        await run_script(ctx.redis, _RELEASE, [lock], [token])


_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


async def _pass(ctx: AppContext, connection_id: uuid.UUID) -> float | None:
    async with ctx.sessionmaker() as session:
        started = await db_now(session)
        connection = await session.get(Connection, connection_id)
        item_ids = list((await session.execute(_QUEUED_ITEMS, {"connection_id": connection_id, "started": started,
                                                               "size": MAX_PASS_ITEMS})).scalars())
    if not item_ids:
        return None
    if connection is None:
        await settle(ctx, connection_id, started, verdict(item_ids, EventOutcome.FAILED, "the connection was deleted"))
        return None
    if (refusal := state_of(connection, ctx.keyring).refusal) is not None:  # the catch-up after relinking finds them
        await settle(ctx, connection_id, started, verdict(item_ids, EventOutcome.FAILED, f"not synced: {refusal}"))
        return None
    try:
        outcomes, run_id = await _sync_items(ctx, connection, item_ids)
    # Verdicts: retrying cannot help. The events fail with the reason; once the connection is
    # fixed, the catch-up finds the changes they announced.
    except (AuthRefused, ForbiddenTarget) as exc:
        if (refused := reconnect_needed(exc)) is not None:
            await mark_needs_reconnect(ctx, connection_id, refused.message)
        await settle(ctx, connection_id, started, verdict(item_ids, EventOutcome.FAILED, str(exc)))
        return None
    except VendorError as exc:  # unavailable, throttled or out of quota: wait, keep them queued
        return await _back_off(ctx, connection_id, reason=str(exc), items=len(item_ids))
    missing = (EventOutcome.NOT_FOUND, "Zoho says this item does not exist")
    await settle(ctx, connection_id, started, [(i, *outcomes.get(i, missing), run_id if i in outcomes else None)
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
    left = await ctx.redis.pttl(backoff_key(connection_id))
    return left / 1000 if left > 0 else None


async def _back_off(ctx: AppContext, connection_id: uuid.UUID, *, reason: str, items: int) -> float:
    """Wait twice as long as after the previous failure, up to the cap; the events stay queued.
    The count lives in Redis, not in arq's job_try, which also counts lock waits and follow-ups."""
    async with ctx.redis.pipeline(transaction=True) as pipe:
        pipe.incr(_failures_key(connection_id))
        pipe.expire(_failures_key(connection_id), FAILURES_TTL_S)
        failures, _ = await pipe.execute()
    delay = min(ctx.settings.webhook_retry_cap_seconds, 2.0 ** min(int(failures), 30))
    await ctx.redis.set(backoff_key(connection_id), "1", px=max(1, int(delay * 1000)))
    log.warning("webhook.retry", items=items, failures=int(failures), delay=delay, reason=reason)
    return delay


async def _sync_items(ctx: AppContext, connection: Connection, item_ids: list[str],
                      ) -> tuple[dict[str, tuple[str, str | None]], uuid.UUID | None]:
    async with adapters_for(connection, ctx) as adapters:
        items = await adapters.catalog.get_item_details(item_ids)
        if not items:
            return {}, None
        run_id, results = await sync_items_now(ctx, connection, items, kind="webhook", adapters=adapters)
    return {r.zoho_item_id: outcome_of(r) for r in results}, run_id


# 'queued' is written out, not bound, in the queries on queued events: the planner only uses the
# partial index ix_webhook_events_queued when it can see that the WHERE implies its predicate.
_MORE_EVENTS = text("""
    SELECT EXISTS (SELECT 1 FROM webhook_events WHERE connection_id = :connection_id AND outcome = 'queued')
""")


async def _more_events(ctx: AppContext, connection_id: uuid.UUID) -> bool:
    async with ctx.sessionmaker() as session:
        return bool(await session.scalar(_MORE_EVENTS, {"connection_id": connection_id}))
