"""A run's state: the one place that changes `sync_runs.status`, the lease, and the claims.

Every kind of run (manual, webhook, catch-up, scheduled) moves through the same states:

    queued ──► running ──► completed | failed
      │          │  ▲
      │          ▼  │ resume (operator, or by itself after a fault)
      │       pausing ──► paused
      │          │
      └───────► cancelling ──► cancelled

- `pausing` / `cancelling` are what the operator sees while a driver still has a batch in
  flight. The driver records that batch, then moves the run on to `paused` / `cancelled`. A run
  with no live driver goes straight to `paused` / `cancelled`.
- Once a run says `paused` or `cancelled`, nothing more is written and no counter moves: every
  claim and every record checks, in SQL, that the run is still `running` (or winding down) and
  still driven by the caller's token; a driver whose lease was taken over writes nothing more.
- A fault (store or Zoho unavailable, database or Redis gone) pauses the run with the reason
  and `retry_at`; the recovery job resumes it then. Only a verdict about the data or the
  credentials fails a run.

Each change is one guarded statement (`UPDATE … WHERE status = ANY(:from) AND driver_token =
:token`), so two processes can never both win a transition.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.context import AppContext
from app.core.heartbeat import heartbeat
from app.db.session import transaction
from app.logs.service import entry, write_logs
from app.models import RunStatus, SyncRun

log = structlog.get_logger(__name__)

S = RunStatus
# The moves a run may make; every statement below is one of these.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.QUEUED: frozenset({S.RUNNING, S.PAUSING, S.PAUSED, S.CANCELLING, S.CANCELLED, S.FAILED}),
    S.RUNNING: frozenset({S.PAUSING, S.PAUSED, S.CANCELLING, S.CANCELLED, S.COMPLETED, S.FAILED}),
    S.PAUSING: frozenset({S.PAUSED, S.CANCELLING, S.CANCELLED, S.FAILED}),
    S.PAUSED: frozenset({S.QUEUED, S.RUNNING, S.PAUSED, S.CANCELLED}),
    S.CANCELLING: frozenset({S.CANCELLED}),
    S.CANCELLED: frozenset(),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
}
# States in which a driver may still write the batch it holds (it claims new ones only in running).
WRITING = (S.RUNNING, S.PAUSING, S.CANCELLING)


# ── the lease ────────────────────────────────────────────────────────────────────────────────

_TAKE = text("""
    UPDATE sync_runs SET driver_token = :token, heartbeat_at = now()
    WHERE id = :run_id AND status = ANY(:statuses)
      AND (driver_token IS NULL OR driver_token = :token
           OR heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => :lease))
    RETURNING id
""")
_RENEW_RUN = text("""
    UPDATE sync_runs SET heartbeat_at = now() WHERE id = :run_id AND driver_token = :token RETURNING id
""")
_RENEW_ITEMS = text("""
    UPDATE sync_run_items SET claimed_at = now()
    WHERE run_id = :run_id AND claim_token = :token AND status = 'pending'
""")
_DRIVING = text("SELECT 1 FROM sync_runs WHERE id = :run_id AND driver_token = :token AND status = ANY(:statuses)")


@dataclass
class Lease:
    """A driver's hold on a run. `lost` turns true once a renewal finds the token gone: from then
    on the driver writes nothing (another driver, or the operator, has the run now)."""

    ctx: AppContext
    run_id: uuid.UUID
    token: str
    lost: bool = field(default=False)

    async def driving(self, statuses: Sequence[str] = (S.RUNNING,)) -> bool:
        """Still ours, and in one of `statuses`."""
        if self.lost:
            return False
        async with self.ctx.sessionmaker() as session:
            row = await session.execute(_DRIVING, {"run_id": self.run_id, "token": self.token,
                                                   "statuses": list(statuses)})
            return row.first() is not None


async def take_lease(ctx: AppContext, run_id: uuid.UUID, token: str, statuses: Sequence[str]) -> bool:
    """Become the run's driver if it is in one of `statuses` and nobody live drives it."""
    async with transaction(ctx.sessionmaker) as session:
        row = await session.execute(_TAKE, {"run_id": run_id, "token": token, "statuses": list(statuses),
                                            "lease": ctx.settings.lease_seconds})
        return row.first() is not None


async def renew(ctx: AppContext, run_id: uuid.UUID, token: str) -> bool:
    """Renew the run's heartbeat and this driver's item claims; False when the run is not ours."""
    async with transaction(ctx.sessionmaker) as session:
        if (await session.execute(_RENEW_RUN, {"run_id": run_id, "token": token})).first() is None:
            return False
        await session.execute(_RENEW_ITEMS, {"run_id": run_id, "token": token})
        return True


@contextlib.asynccontextmanager
async def keep_lease(ctx: AppContext, run_id: uuid.UUID, token: str) -> AsyncIterator[Lease]:
    """Renew the lease in the background for as long as the block runs."""
    lease = Lease(ctx, run_id, token)

    async def beat() -> bool:
        lease.lost = not await renew(ctx, run_id, token)
        if lease.lost:
            log.info("lease.lost", run_id=str(run_id))
        return not lease.lost

    async with heartbeat(beat, every=ctx.settings.lease_seconds / 3, event="lease.renew_failed", run_id=str(run_id)):
        yield lease


# ── claims and records ───────────────────────────────────────────────────────────────────────

# The run row is locked FOR SHARE while items are claimed: a pause or cancel (FOR UPDATE) waits
# for the claim to commit and then sees exactly which items are in flight.
_LOCK_RUNNING = text("""
    SELECT 1 FROM sync_runs WHERE id = :run_id AND status = 'running' AND driver_token = :token FOR SHARE
""")
_LOCK_RUN = text("SELECT 1 FROM sync_runs WHERE id = :run_id FOR NO KEY UPDATE")


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A claimed item as stored: the claim statements return exactly these columns."""

    id: int
    kind: str
    zoho_item_id: str | None
    group_id: str | None
    parent_store_id: int | None
    sku: str | None
    action: str
    payload: dict[str, Any] | None
    content_hash: str | None
    store_id: int | None
    attempts: int


_CLAIMED = ", ".join(f.name for f in fields(ClaimedRow))
# Simple products and variable products; a variation is claimed with its variable product.
_CLAIM = text(f"""
    UPDATE sync_run_items SET claim_token = :token, claimed_at = now(), attempts = attempts + 1
    WHERE id IN (
        SELECT i.id FROM sync_run_items i
        WHERE i.run_id = :run_id AND i.status = 'pending' AND i.kind <> 'variation'
          AND (i.claim_token IS NULL OR i.claimed_at < now() - make_interval(secs => :lease))
        ORDER BY i.id LIMIT :size FOR UPDATE SKIP LOCKED)
    RETURNING {_CLAIMED}
""")
# A group's variants go with its row: claimed by the same driver, in the same transaction.
_CLAIM_MEMBERS = text(f"""
    UPDATE sync_run_items SET claim_token = :token, claimed_at = now(), attempts = attempts + 1
    WHERE run_id = :run_id AND kind = 'variation' AND status = 'pending'
      AND (group_id = ANY(:groups) OR (group_id IS NULL AND parent_store_id = ANY(:parents)))
    RETURNING {_CLAIMED}
""")
# An outcome lands only while the run is still being driven by the same token: a paused or
# cancelled run's counters never move, and a driver that lost its lease records nothing.
# `updated_at` is when the item was done: the status page's "Recently synced" shows it.
RECORD_OUTCOME = text("""
    UPDATE sync_run_items SET status = :b_status, store_id = :b_store_id, updated_at = now(),
           reason = coalesce(:b_reason, reason), error_code = :b_code, image_state = :b_images
    WHERE id = :b_id AND claim_token = :b_token AND status = 'pending'
      AND EXISTS (SELECT 1 FROM sync_runs r WHERE r.id = :b_run AND r.driver_token = :b_token
                  AND r.status IN ('running', 'pausing', 'cancelling'))
""")
# A batch that got through ends a streak of faults; the pace it was written at is shown.
_AFTER_BATCH = text("""
    UPDATE sync_runs SET faults = 0, pace = CAST(:pace AS jsonb)
    WHERE id = :run_id AND (faults > 0 OR pace IS DISTINCT FROM CAST(:pace AS jsonb))
""")


async def claim_rows(session: AsyncSession, *, run_id: uuid.UUID, token: str, size: int,
                     lease_seconds: float) -> list[ClaimedRow]:
    """Up to `size` pending items (a variable product with all its variants) for this driver, or
    nothing when the run is no longer running under this token."""
    if (await session.execute(_LOCK_RUNNING, {"run_id": run_id, "token": token})).first() is None:
        return []
    rows = await session.execute(_CLAIM, {"run_id": run_id, "token": token, "lease": lease_seconds, "size": size})
    claimed = [ClaimedRow(**row._mapping) for row in rows]
    heads = [c for c in claimed if c.kind == "variable"]
    if heads:
        members = await session.execute(_CLAIM_MEMBERS, {
            "run_id": run_id, "token": token, "groups": [h.group_id for h in heads if h.group_id is not None],
            "parents": [h.store_id for h in heads if h.group_id is None]})
        claimed += [ClaimedRow(**row._mapping) for row in members]
    return claimed


async def record_outcomes(session: AsyncSession, *, run_id: uuid.UUID, rows: list[dict[str, Any]],
                          pace: dict[str, int] | None = None) -> None:
    """Item outcomes (`RECORD_OUTCOME` rows), and the pace the batch was written at. The run row
    is locked first, as the heartbeat, claims and controls lock it before any item: one order,
    so a record and a lease renewal never deadlock over the same items."""
    await session.execute(_LOCK_RUN, {"run_id": run_id})
    await session.execute(RECORD_OUTCOME, [row | {"b_run": run_id} for row in rows])
    await session.execute(_AFTER_BATCH, {"run_id": run_id, "pace": json.dumps(pace) if pace else None})


# ── the driver's transitions ─────────────────────────────────────────────────────────────────

# Planned: queued → running, or an operator's pause or cancel that came while planning settles.
_START_PLANNED = text("""
    UPDATE sync_runs SET status = CASE status WHEN 'queued' THEN 'running' WHEN 'pausing' THEN 'paused'
                                              WHEN 'cancelling' THEN 'cancelled' ELSE status END,
                         started_at = now(), driver_token = NULL
    WHERE id = :run_id AND driver_token = :token
    RETURNING status
""")
_OPEN_DRIVEN = text("""
    INSERT INTO sync_runs (id, connection_id, kind, status, driver_token, started_at, heartbeat_at, faults)
    VALUES (:run_id, :connection_id, :kind, 'running', :token, now(), now(), 0)
    RETURNING id
""")
_COMPLETE = text("""
    UPDATE sync_runs SET status = 'completed', finished_at = now(), driver_token = NULL, retry_at = NULL
    WHERE id = :run_id AND driver_token = :token AND status = 'running'
      AND NOT EXISTS (SELECT 1 FROM sync_run_items WHERE run_id = :run_id AND status = 'pending')
    RETURNING connection_id
""")
# pausing → paused and cancelling → cancelled, once the driver's last batch is recorded.
_SETTLE = text("""
    UPDATE sync_runs SET status = CASE status WHEN 'pausing' THEN 'paused' ELSE 'cancelled' END,
                         finished_at = CASE status WHEN 'cancelling' THEN now() ELSE finished_at END,
                         driver_token = NULL
    WHERE id = :run_id AND driver_token = :token AND status IN ('pausing', 'cancelling')
    RETURNING status, connection_id
""")
_CANCEL_PENDING = text("""
    UPDATE sync_run_items SET status = 'cancelled', reason = 'run cancelled'
    WHERE run_id = :run_id AND status = 'pending'
""")
_RELEASE_CLAIMS = text("""
    UPDATE sync_run_items SET claim_token = NULL, claimed_at = NULL
    WHERE run_id = :run_id AND claim_token = :token AND status = 'pending'
""")
_STILL_MINE = text("SELECT 1 FROM sync_runs WHERE id = :run_id AND driver_token = :token")
_RELEASE = text("""
    UPDATE sync_runs SET driver_token = NULL WHERE id = :run_id AND driver_token = :token RETURNING id
""")


async def start_planned(session: AsyncSession, *, run_id: uuid.UUID, token: str) -> str | None:
    """The plan is saved (in `session`'s transaction): the run's status after, or None when this
    planner lost its lease meanwhile."""
    return (await session.execute(_START_PLANNED, {"run_id": run_id, "token": token})).scalar()


async def open_driven_run(session: AsyncSession, *, connection_id: uuid.UUID, kind: str, token: str) -> SyncRun:
    """A run made and driven in one job (webhook, catch-up): `running` from the start, its lease
    held by `token`."""
    run_id = uuid.uuid4()
    await session.execute(_OPEN_DRIVEN, {"run_id": run_id, "connection_id": connection_id, "kind": kind,
                                         "token": token})
    run = await session.get(SyncRun, run_id)
    assert run is not None
    return run


async def finish(ctx: AppContext, run_id: uuid.UUID, token: str) -> bool:
    """After the driver's loops end: complete the run, or settle a pause or cancel. True when
    this driver is done with the run; False when it is still running with items that another
    (dead) driver had claimed, whose claims the caller waits out."""
    async with transaction(ctx.sessionmaker) as session:
        args = {"run_id": run_id, "token": token}
        if (connection_id := (await session.execute(_COMPLETE, args)).scalar()) is not None:
            await _log(session, run_id, connection_id, S.COMPLETED, "run completed")
            return True
        if (settled := (await session.execute(_SETTLE, args)).first()) is not None:
            status, connection_id = settled
            await _wind_up(session, run_id=run_id, token=token, status=status)
            await _log(session, run_id, connection_id, status, f"run {status}: its last batch is recorded")
            return True
        return (await session.execute(_STILL_MINE, args)).first() is None


async def release(ctx: AppContext, run_id: uuid.UUID, token: str) -> None:
    """Give the lease back without changing the state (e.g. a duplicate job that found the run
    already planned)."""
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(_RELEASE, {"run_id": run_id, "token": token})


_FAULT = text("""
    UPDATE sync_runs SET
        status = CASE status WHEN 'cancelling' THEN 'cancelled' ELSE 'paused' END,
        reason = CASE status WHEN 'running' THEN :reason WHEN 'queued' THEN :reason ELSE reason END,
        retry_at = CASE WHEN status IN ('running', 'queued')
                        THEN now() + make_interval(secs => coalesce(
                                 CAST(:wait AS float8), (CAST(:backoff AS float8[]))[least(faults + 1, :steps)]))
                   END,
        faults = faults + 1,
        finished_at = CASE status WHEN 'cancelling' THEN now() ELSE finished_at END,
        driver_token = NULL
    WHERE id = :run_id AND driver_token = :token AND status IN ('queued', 'running', 'pausing', 'cancelling')
    RETURNING status, connection_id, retry_at
""")
_HAND_BACK = text("""
    UPDATE sync_runs SET status = 'cancelled', reason = :reason, finished_at = now(), driver_token = NULL,
                         retry_at = NULL
    WHERE id = :run_id AND driver_token = :token AND status IN ('running', 'pausing', 'cancelling')
    RETURNING connection_id
""")
_FAIL = text("""
    UPDATE sync_runs SET status = 'failed', reason = :reason, finished_at = now(), driver_token = NULL,
                         retry_at = NULL
    WHERE id = :run_id AND driver_token = :token AND status IN ('queued', 'running', 'pausing', 'cancelling')
    RETURNING connection_id
""")


async def pause_for_fault(ctx: AppContext, run_id: uuid.UUID, token: str, *, reason: str,
                          wait_seconds: float | None = None) -> datetime | None:
    """Pause the run until the service answers again: `retry_at` after `wait_seconds`, or the
    backoff for this many faults in a row. An operator's pause or cancel in progress wins (the
    run is paused without a retry, or cancelled). The moment it will retry, if any."""
    backoff = list(ctx.settings.fault_backoff_seconds)
    args = {"run_id": run_id, "token": token, "reason": reason, "wait": wait_seconds, "backoff": backoff,
            "steps": len(backoff)}

    async def then(session: AsyncSession, row: tuple[Any, ...]) -> None:
        status, connection_id, retry_at = row
        await _wind_up(session, run_id=run_id, token=token, status=status)
        when = f"; retrying at {retry_at:%Y-%m-%d %H:%M:%S}Z" if retry_at else ""
        await _log(session, run_id, connection_id, status, f"run {status}: {reason}{when}", level="warning")

    row = await _stop(ctx, _FAULT, args, then)
    return row[2] if row is not None else None


async def hand_back(ctx: AppContext, run_id: uuid.UUID, token: str, *, reason: str) -> None:
    """A webhook or catch-up run stopped by a fault: `cancelled` with the reason, its pending
    items too. Its events stay queued (or its watermark unmoved) and the next pass plans them
    afresh; resuming the old plan as well would write the same items twice."""

    async def then(session: AsyncSession, row: tuple[Any, ...]) -> None:
        await _wind_up(session, run_id=run_id, token=token, status=S.CANCELLED)
        await _log(session, run_id, row[0], S.CANCELLED, f"run stopped: {reason}", level="warning")

    await _stop(ctx, _HAND_BACK, {"run_id": run_id, "token": token, "reason": reason}, then)


async def fail(ctx: AppContext, run_id: uuid.UUID, token: str, *, reason: str) -> None:
    """End the run for good: a verdict about the data or the credentials."""

    async def then(session: AsyncSession, row: tuple[Any, ...]) -> None:
        await _log(session, run_id, row[0], S.FAILED, f"run failed: {reason}", level="error")

    await _stop(ctx, _FAIL, {"run_id": run_id, "token": token, "reason": reason}, then)


async def _stop(ctx: AppContext, statement: TextClause, args: dict[str, Any],
                then: Callable[[AsyncSession, tuple[Any, ...]], Awaitable[None]], *, attempts: int = 4,
                ) -> tuple[Any, ...] | None:
    """A driver's last state change (`statement`, then `then` with its row, in one transaction)
    must not be lost to a database blip: tried `attempts` times. When the database stays away,
    the run keeps its stale lease and the recovery job takes it up once Postgres is back."""
    for attempt in range(attempts):
        try:
            async with transaction(ctx.sessionmaker) as session:
                row = (await session.execute(statement, args)).first()
                if row is None:  # not ours any more: nothing to change
                    return None
                await then(session, tuple(row))
                return tuple(row)
        except Exception:
            if attempt == attempts - 1:
                log.exception("run.state_unrecorded", run_id=str(args["run_id"]))
                return None
            await asyncio.sleep(2**attempt)
    return None


async def _wind_up(session: AsyncSession, *, run_id: uuid.UUID, token: str | None, status: str) -> None:
    """The items of a run that just stopped: a cancelled run's pending items are cancelled; a
    paused one's claims by `token` are released, so a resume claims them at once."""
    if status == S.CANCELLED:
        await session.execute(_CANCEL_PENDING, {"run_id": run_id})
    elif token is not None:
        await session.execute(_RELEASE_CLAIMS, {"run_id": run_id, "token": token})


# ── the operator's controls (inside the request's transaction) ───────────────────────────────

_LIVE_DRIVER = "driver_token IS NOT NULL AND heartbeat_at >= now() - make_interval(secs => :lease)"
_PAUSE = text(f"""
    UPDATE sync_runs SET status = CASE WHEN {_LIVE_DRIVER} THEN 'pausing' ELSE 'paused' END,
                         driver_token = CASE WHEN {_LIVE_DRIVER} THEN driver_token END,
                         reason = 'paused by the operator', retry_at = NULL
    WHERE id = :run_id AND (status IN ('queued', 'running') OR (status = 'paused' AND retry_at IS NOT NULL))
    RETURNING status, driver_token
""")
# A paused run has no batch in flight, whatever token it still carries: it is cancelled at once.
_WINDING_DOWN = f"status <> 'paused' AND {_LIVE_DRIVER}"
_CANCEL = text(f"""
    UPDATE sync_runs SET status = CASE WHEN {_WINDING_DOWN} THEN 'cancelling' ELSE 'cancelled' END,
                         finished_at = CASE WHEN {_WINDING_DOWN} THEN NULL ELSE now() END,
                         driver_token = CASE WHEN {_WINDING_DOWN} THEN driver_token END,
                         reason = 'cancelled by the operator', retry_at = NULL
    WHERE id = :run_id AND status IN ('queued', 'running', 'pausing', 'paused')
    RETURNING status, driver_token
""")
# Items not in the live driver's hands are cancelled now; those in flight record what happened.
_CANCEL_UNCLAIMED = text("""
    UPDATE sync_run_items SET status = 'cancelled', reason = 'run cancelled'
    WHERE run_id = :run_id AND status = 'pending'
      AND (CAST(:driver AS text) IS NULL OR claim_token IS DISTINCT FROM CAST(:driver AS text))
""")
_RESUME = text("""
    UPDATE sync_runs SET status = CASE WHEN started_at IS NULL THEN 'queued' ELSE 'running' END,
                         reason = NULL, retry_at = NULL
    WHERE id = :run_id AND status = 'paused'
    RETURNING status
""")


async def request_pause(session: AsyncSession, run: SyncRun, *, lease_seconds: float) -> bool:
    """`pausing` while a live driver holds a batch, else `paused` at once. False when the run is
    in no state to pause."""
    row = (await session.execute(_PAUSE, {"run_id": run.id, "lease": lease_seconds})).first()
    return row is not None


async def request_cancel(session: AsyncSession, run: SyncRun, *, lease_seconds: float) -> bool:
    """`cancelling` while a live driver holds a batch, else `cancelled` at once; every pending
    item not in flight is cancelled now. False when the run is in no state to cancel."""
    row = (await session.execute(_CANCEL, {"run_id": run.id, "lease": lease_seconds})).first()
    if row is None:
        return False
    status, driver = row
    await session.execute(_CANCEL_UNCLAIMED, {"run_id": run.id, "driver": driver if status == S.CANCELLING else None})
    return True


async def request_resume(session: AsyncSession, run: SyncRun) -> str | None:
    """paused → running (or queued when it was never planned); the new status, or None."""
    return (await session.execute(_RESUME, {"run_id": run.id})).scalar()


# ── recovery ─────────────────────────────────────────────────────────────────────────────────

# A webhook or catch-up run whose worker died is handed back (see `hand_back`): its events are
# still queued, and the next pass plans them afresh.
_HAND_BACK_STALLED = text("""
    UPDATE sync_runs SET status = 'cancelled', finished_at = now(), driver_token = NULL,
                         reason = 'its worker stopped; the next pass retries its items'
    WHERE kind IN ('webhook', 'catchup') AND status IN ('queued', 'running', 'pausing', 'cancelling')
      AND coalesce(heartbeat_at, created_at) < now() - make_interval(secs => :lease)
    RETURNING id, status
""")
_STALLED = text("""
    SELECT id, status FROM sync_runs
    WHERE status IN ('queued', 'running')
      AND coalesce(heartbeat_at, created_at) < now() - make_interval(secs => :lease)
      AND (status = 'running' OR started_at IS NULL)
""")
# A pause or cancel whose driver died before it recorded its last batch: nothing is in flight.
_SETTLE_ORPHANS = text("""
    UPDATE sync_runs SET status = CASE status WHEN 'pausing' THEN 'paused' ELSE 'cancelled' END,
                         finished_at = CASE status WHEN 'cancelling' THEN now() ELSE finished_at END,
                         driver_token = NULL
    WHERE status IN ('pausing', 'cancelling')
      AND (driver_token IS NULL OR coalesce(heartbeat_at, created_at) < now() - make_interval(secs => :lease))
    RETURNING id, status
""")
_DUE = text("""
    UPDATE sync_runs SET status = CASE WHEN started_at IS NULL THEN 'queued' ELSE 'running' END,
                         retry_at = NULL, reason = NULL, driver_token = NULL
    WHERE id IN (SELECT id FROM sync_runs WHERE status = 'paused' AND retry_at <= now()
                 ORDER BY retry_at LIMIT 100 FOR UPDATE SKIP LOCKED)
    RETURNING id, status
""")


async def stalled_runs(ctx: AppContext) -> list[tuple[uuid.UUID, str]]:
    """Runs whose driver died (their lease is stale), after settling orphaned pauses and cancels."""
    lease = {"lease": ctx.settings.lease_seconds}
    async with transaction(ctx.sessionmaker) as session:
        for run_id, status in (await session.execute(_HAND_BACK_STALLED, lease)).all():
            await _wind_up(session, run_id=run_id, token=None, status=status)
            log.warning("run.handed_back", run_id=str(run_id))
        for run_id, status in (await session.execute(_SETTLE_ORPHANS, lease)).all():
            await _wind_up(session, run_id=run_id, token=None, status=status)  # a dead driver's claims lapse
            log.warning("run.settled_orphan", run_id=str(run_id), status=status)
        return [(r, s) for r, s in (await session.execute(_STALLED, lease)).all()]


async def due_retries(ctx: AppContext) -> list[tuple[uuid.UUID, str]]:
    """Runs paused by a fault whose `retry_at` has come, moved back to running (or queued)."""
    async with transaction(ctx.sessionmaker) as session:
        return [(r, s) for r, s in (await session.execute(_DUE)).all()]


async def _log(session: AsyncSession, run_id: uuid.UUID, connection_id: uuid.UUID, status: str, message: str, *,
               level: str = "info") -> None:
    await write_logs(session, [entry(level=level, action="run", status=status, run_id=run_id,
                                     connection_id=connection_id, message=message)])
