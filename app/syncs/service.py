"""Runs as the API sees them: start, read, list, and the pause/resume/cancel controls."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime

from sqlalchemy import func, select, union_all
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, NotFound
from app.core.jobs import DRIVE_RUN, PLAN_RUN, defer_job, drive_job_id, plan_job_id
from app.logs.service import entry, write_logs
from app.models import (
    ACTIVE_RUN_STATUSES,
    STEERED_RUN_KINDS,
    Connection,
    ItemStatus,
    RunKind,
    RunMode,
    RunStatus,
    SyncRun,
    SyncRunItem,
)
from app.syncs import state
from app.syncs.schemas import RecentItem, RunItemRead, RunRead


async def start_sync(session: AsyncSession, connection: Connection, *, kind: RunKind = RunKind.MANUAL,
                     mode: RunMode = RunMode.STANDARD, scheduled_for: datetime | None = None,
                     retry_of: uuid.UUID | None = None) -> SyncRun:
    """Queue a steered run (manual, scheduled for the due time `scheduled_for`, or a retry of
    run `retry_of`'s failed items: app/syncs/retry.py); 409 when the connection already has an
    active steered run, whichever started it. A due time that already has its run is refused
    the same way, by its own unique index. `mode` verify reads the store's own records and
    repairs what differs (README, "Verify runs")."""
    active = await session.scalar(select(SyncRun).where(SyncRun.connection_id == connection.id,
                                                        SyncRun.kind.in_(STEERED_RUN_KINDS),
                                                        SyncRun.status.in_(ACTIVE_RUN_STATUSES)))
    if active is not None:
        raise Conflict(f"connection already has an active sync {active.id} (status {active.status})")
    run = SyncRun(connection_id=connection.id, kind=kind, mode=mode, scheduled_for=scheduled_for,
                  retry_of=retry_of, status=RunStatus.QUEUED)
    session.add(run)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent start won the race; the unique index decided
        raise Conflict("connection already has an active sync") from exc
    await session.refresh(run)
    await write_logs(session, [entry(level="info", action="run", status="queued", connection_id=connection.id,
                                     run_id=run.id, message=f"{kind} {mode} sync queued")])
    defer_job(session, PLAN_RUN, str(run.id), job_id=plan_job_id(run.id))
    return run


async def get_run(session: AsyncSession, run_id: uuid.UUID, *, for_update: bool = False) -> SyncRun:
    query = select(SyncRun).where(SyncRun.id == run_id)
    run = await session.scalar(query.with_for_update() if for_update else query)
    if run is None:
        raise NotFound(f"sync {run_id} does not exist")
    return run


async def list_runs(session: AsyncSession, connection_id: uuid.UUID, *, kind: str | None = None, limit: int,
                    offset: int) -> tuple[int, list[SyncRun]]:
    where = [SyncRun.connection_id == connection_id] + ([SyncRun.kind == kind] if kind else [])
    total = await session.scalar(select(func.count()).select_from(SyncRun).where(*where))
    runs = await session.scalars(select(SyncRun).where(*where).order_by(SyncRun.created_at.desc(), SyncRun.id)
                                 .limit(limit).offset(offset))
    return int(total or 0), list(runs.all())


async def latest_full_runs(session: AsyncSession, connection_ids: list[uuid.UUID]) -> dict[uuid.UUID, SyncRun]:
    """Each connection's newest steered run (manual, scheduled, or a retry of failed items), for
    the console's pages: the webhook and catch-up passes in between are not "the sync" an
    operator steers, and a retry is, so the operator who asked for it sees its progress."""
    if not connection_ids:
        return {}
    rows = await session.scalars(
        select(SyncRun).where(SyncRun.connection_id.in_(connection_ids), SyncRun.kind.in_(STEERED_RUN_KINDS))
        .order_by(SyncRun.connection_id, SyncRun.created_at.desc(), SyncRun.id.desc())
        .ext(distinct_on(SyncRun.connection_id)))
    return {run.connection_id: run for run in rows.all()}


async def run_views(session: AsyncSession, runs: list[SyncRun]) -> list[RunRead]:
    """Runs with their counters, counted from the items in one query."""
    counts: dict[uuid.UUID, Counter[str]] = {run.id: Counter() for run in runs}
    if runs:
        rows = await session.execute(
            select(SyncRunItem.run_id, SyncRunItem.status, func.count())
            .where(SyncRunItem.run_id.in_(list(counts))).group_by(SyncRunItem.run_id, SyncRunItem.status))
        for run_id, status, count in rows:
            counts[run_id][status] = count
    return [_view(run, counts[run.id]) for run in runs]


def _view(run: SyncRun, counts: Counter[str]) -> RunRead:
    total = sum(counts.values())
    pending = counts[ItemStatus.PENDING]
    if total:
        progress = round(100 * (total - pending) / total, 1)
    else:
        progress = 100.0 if run.status == RunStatus.COMPLETED else 0.0
    return RunRead(
        id=run.id, connection_id=run.connection_id, kind=run.kind, mode=run.mode, status=run.status, reason=run.reason,
        retry_of=run.retry_of,
        total=total, synced=counts[ItemStatus.SYNCED], failed=counts[ItemStatus.FAILED], pending=pending,
        skipped=counts[ItemStatus.SKIPPED], cancelled=counts[ItemStatus.CANCELLED], progress=progress,
        retry_at=run.retry_at, pace=run.pace,
        scheduled_for=run.scheduled_for, created_at=run.created_at, started_at=run.started_at,
        finished_at=run.finished_at, updated_at=run.updated_at,
    )


async def list_items(session: AsyncSession, run_id: uuid.UUID, *, status: ItemStatus | None, limit: int,
                     offset: int) -> tuple[int, list[RunItemRead]]:
    where = [SyncRunItem.run_id == run_id] + ([SyncRunItem.status == status] if status else [])
    total = await session.scalar(select(func.count()).select_from(SyncRunItem).where(*where))
    rows = await session.scalars(select(SyncRunItem).where(*where).order_by(SyncRunItem.id).limit(limit).offset(offset))
    return int(total or 0), [
        RunItemRead(id=i.id, zoho_item_id=i.zoho_item_id, sku=i.sku, name=i.name, action=i.action, status=i.status,
                    error=i.reason, error_code=i.error_code, store_id=i.store_id, attempts=i.attempts,
                    updated_at=i.updated_at, kind=i.kind, group=i.group_id,
                    parent_store_id=i.parent_store_id, images=i.image_state,
                    changes=i.changes)
        for i in rows.all()
    ]


# How many of a run's newest done items the status page lists.
RECENT_ITEMS = 50


async def recent_items(session: AsyncSession, run_id: uuid.UUID, *, failed_only: bool = False,
                       limit: int = RECENT_ITEMS) -> list[RecentItem]:
    """The run's newest synced or failed items (or failed only), newest first: one query, each
    status read newest-first from ix_sync_run_items_done so a run of any size costs `limit`
    rows a status, not a sort of every item."""
    statuses = [ItemStatus.FAILED] if failed_only else [ItemStatus.SYNCED, ItemStatus.FAILED]
    newest = [select(SyncRunItem.id, SyncRunItem.sku, SyncRunItem.name, SyncRunItem.action, SyncRunItem.status,
                     SyncRunItem.reason, SyncRunItem.image_state, SyncRunItem.updated_at)
              .where(SyncRunItem.run_id == run_id, SyncRunItem.status == status)
              .order_by(SyncRunItem.updated_at.desc(), SyncRunItem.id.desc()).limit(limit) for status in statuses]
    both = union_all(*newest).subquery() if len(newest) > 1 else newest[0].subquery()
    rows = await session.execute(select(both).order_by(both.c.updated_at.desc(), both.c.id.desc()).limit(limit))
    return [RecentItem(id=row.id, sku=row.sku, name=row.name, action=row.action, status=row.status,
                       error=row.reason if row.status == ItemStatus.FAILED or row.image_state == "failed" else None,
                       images_failed=row.image_state == "failed", at=row.updated_at)
            for row in rows]


async def pause_run(session: AsyncSession, run_id: uuid.UUID, *, lease_seconds: float) -> SyncRun:
    """Stop claiming; `pausing` until the batch in flight is recorded, then `paused`. The queue stays."""
    run = await get_run(session, run_id, for_update=True)
    if not await state.request_pause(session, run, lease_seconds=lease_seconds):
        raise Conflict(f"cannot pause a sync that is {run.status}")
    await _log_control(session, run, "paused")
    return run


async def resume_run(session: AsyncSession, run_id: uuid.UUID) -> SyncRun:
    """Continue with the pending items only (or finish planning if it never got that far)."""
    run = await get_run(session, run_id, for_update=True)
    status = await state.request_resume(session, run)
    if status is None:
        raise Conflict(f"cannot resume a sync that is {run.status}")
    if status == RunStatus.QUEUED:
        defer_job(session, PLAN_RUN, str(run.id), job_id=plan_job_id(run.id, fresh=True))
    else:
        defer_job(session, DRIVE_RUN, str(run.id), job_id=drive_job_id(run.id))
    await _log_control(session, run, "resumed")
    return run


async def cancel_run(session: AsyncSession, run_id: uuid.UUID, *, lease_seconds: float) -> SyncRun:
    """Pending items not in flight are cancelled now; `cancelling` until the batch in flight is
    recorded, then `cancelled`. What was already written stays in the store."""
    run = await get_run(session, run_id, for_update=True)
    if not await state.request_cancel(session, run, lease_seconds=lease_seconds):
        raise Conflict(f"cannot cancel a sync that is {run.status}")
    await _log_control(session, run, "cancelled")
    return run


async def _log_control(session: AsyncSession, run: SyncRun, status: str) -> None:
    await session.flush()
    await session.refresh(run)
    await write_logs(session, [entry(level="info", action="run", status=status, connection_id=run.connection_id,
                                     run_id=run.id, message=f"run {status} by the operator")])
