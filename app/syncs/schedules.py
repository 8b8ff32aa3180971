"""Schedules: full runs the workers start by themselves, at the due times of a connection's cron.

Every worker calls `start_due_runs` once a minute (an arq cron job). A connection's schedule
(`settings.schedule`: a five-field cron, a run mode, an IANA time zone) is read by cronsim in
its time zone; its latest due time no later than now is claimed like this:

- **Exactly once.** The run records the due time in `scheduled_for`, unique per connection
  (migration 0010), so however many workers see it fall due, one insert wins; the others find
  the row, or meet the index (IntegrityError) and do nothing.
- **Skipped while a full run is active** (manual or scheduled: the one-active-run rule): the due
  time is recorded as a scheduled run that is `cancelled` at once with the reason, so the skip
  too happens once and shows in the run list, with a log line and a sync_logs entry. A skipped
  due time is not tried again when the active run ends: the next due time starts the next run.
- **Missed due times** (every worker down, a deploy): the latest due time within `GRACE` (one
  hour) still starts its run at the next tick, and only that one; older ones are dropped. So a
  schedule saved less than an hour after one of its due times starts that run at once.
- **Daylight saving** (cronsim follows Debian cron): a time that does not exist on the day the
  clocks go forward (02:30 in Europe/Berlin on the last Sunday of March) runs once at the first
  minute after the gap (03:00 local); a time that happens twice when they go back runs once,
  at its first occurrence (02:30 +02:00). Every other day it runs at its wall-clock time.

A scheduled run is a manual run in every other respect: same planner, driver, recovery, and the
same settling of webhook events it wrote.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from cronsim import CronSim
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.schemas import Schedule
from app.core.context import AppContext
from app.core.errors import Conflict
from app.core.jobs import flush_jobs
from app.db.session import transaction
from app.logs.service import entry, write_logs
from app.models import ACTIVE_RUN_STATUSES, STEERED_RUN_KINDS, Connection, RunKind, RunMode, RunStatus, SyncRun
from app.syncs.service import start_sync

log = structlog.get_logger(__name__)

#: How late a due time may still start its run (workers down at the time, a deploy).
GRACE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Claim:
    """What this call did about one connection's due time."""

    connection_id: uuid.UUID
    due: datetime
    run_id: uuid.UUID
    started: bool  # False: skipped, a full run was active


def latest_due(schedule: Schedule, now: datetime) -> datetime | None:
    """The schedule's latest due time no later than `now` (this minute included), in UTC, or
    None when it lies more than `GRACE` back."""
    zone = ZoneInfo(schedule.timezone)
    # cronsim walking backwards excludes its start: start at the next minute to include this one.
    start = now.astimezone(zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
    due = next(CronSim(schedule.cron, start, reverse=True)).astimezone(UTC)
    return due if now - due <= GRACE else None


async def start_due_runs(ctx: AppContext, now: datetime) -> list[Claim]:
    """Start (or skip) the run of every schedule due at `now` that no run answers yet. `now` is
    the caller's clock (the worker's; a test's), timezone-aware."""
    async with ctx.sessionmaker() as session:
        due = await _unclaimed_due_times(session, now)
    claims = [await _claim(ctx, connection, schedule, when) for connection, schedule, when in due]
    return [claim for claim in claims if claim is not None]


async def _unclaimed_due_times(session: AsyncSession,
                               now: datetime) -> list[tuple[Connection, Schedule, datetime]]:
    """Connections whose latest due time has no run yet: two queries, however many there are."""
    connections = (await session.scalars(
        select(Connection).where(func.jsonb_typeof(Connection.settings["schedule"]) == "object"))).all()
    claimed = {(row.connection_id, row.scheduled_for) for row in await session.execute(
        select(SyncRun.connection_id, SyncRun.scheduled_for)
        .where(SyncRun.scheduled_for >= now - GRACE - timedelta(minutes=1)))}
    due = []
    for connection in connections:
        schedule = _schedule_of(connection)
        when = latest_due(schedule, now) if schedule else None
        if schedule and when and (connection.id, when) not in claimed:
            due.append((connection, schedule, when))
    return due


def _schedule_of(connection: Connection) -> Schedule | None:
    """The stored schedule, or None (with a warning) when today's rules refuse it."""
    try:
        return Schedule.model_validate(connection.settings["schedule"])
    except ValidationError as exc:
        log.warning("schedule.unreadable", connection_id=str(connection.id), error=str(exc))
        return None


async def _claim(ctx: AppContext, connection: Connection, schedule: Schedule, due: datetime) -> Claim | None:
    """Start the due time's run, or record its skip; None when another worker got there first.

    A start refused by a unique index is looked at again in a fresh transaction: either another
    worker claimed the due time (nothing to do) or a manual run started meanwhile (a skip)."""
    for _ in range(2):
        try:
            async with transaction(ctx.sessionmaker) as session:
                claim = await _start_or_skip(session, connection, schedule, due)
            await flush_jobs(session, ctx.redis)  # after the commit: the planner finds its run
            return claim
        except (Conflict, IntegrityError):
            continue
    return None


async def _start_or_skip(session: AsyncSession, connection: Connection, schedule: Schedule,
                         due: datetime) -> Claim | None:
    if await session.scalar(select(SyncRun.id).where(SyncRun.connection_id == connection.id,
                                                     SyncRun.scheduled_for == due)):
        return None
    active = await session.scalar(select(SyncRun).where(SyncRun.connection_id == connection.id,
                                                        SyncRun.kind.in_(STEERED_RUN_KINDS),
                                                        SyncRun.status.in_(ACTIVE_RUN_STATUSES)))
    if active is None:
        run = await start_sync(session, connection, kind=RunKind.SCHEDULED, mode=RunMode(schedule.mode),
                               scheduled_for=due)
        log.info("schedule.started", connection_id=str(connection.id), run_id=str(run.id), due=due.isoformat(),
                 mode=schedule.mode)
        return Claim(connection.id, due, run.id, started=True)
    return await _skip(session, connection, schedule, due, active)


async def _skip(session: AsyncSession, connection: Connection, schedule: Schedule, due: datetime,
                active: SyncRun) -> Claim:
    """Record the due time as a scheduled run cancelled at once: the unique index keeps the skip
    to one, and the run list shows why the run did not happen."""
    local = due.astimezone(ZoneInfo(schedule.timezone))
    reason = (f"skipped: due {local:%Y-%m-%d %H:%M} ({schedule.timezone}) while {active.kind} sync {active.id} "
              f"was {active.status}")
    run = SyncRun(connection_id=connection.id, kind=RunKind.SCHEDULED, mode=schedule.mode, scheduled_for=due,
                  status=RunStatus.CANCELLED, reason=reason, finished_at=func.now())
    session.add(run)
    await session.flush()
    await write_logs(session, [entry(level="warning", action="schedule", status="skipped",
                                     connection_id=connection.id, run_id=run.id, message=f"scheduled sync {reason}",
                                     details={"active_run_id": str(active.id), "due": due.isoformat()})])
    log.warning("schedule.skipped", connection_id=str(connection.id), run_id=str(run.id), due=due.isoformat(),
                active_run_id=str(active.id))
    return Claim(connection.id, due, run.id, started=False)
