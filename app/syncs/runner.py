"""The jobs' bodies: plan a run, drive it to the end, recover runs whose worker died, and
resume runs that a fault paused.

Workers call these with the process's AppContext; each reads its state from Postgres, so a job
that arq runs twice, or that a recovery re-enqueues, does no harm.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass

import httpx
import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from app.catalog.types import StoreSettings
from app.connections.adapters import adapters_for
from app.connections.links import mark_for_run, state_of
from app.connections.schemas import ConnectionSettings
from app.connections.service import connection_settings
from app.core.context import AppContext
from app.core.jobs import DRIVE_RUN, PLAN_RUN, drive_job_id, plan_job_id
from app.models import Connection, RunKind, RunStatus, SyncRun
from app.ports.bundle import Adapters
from app.ports.errors import AuthRefused, QuotaExhausted, Unavailable, VendorError
from app.syncs import state
from app.syncs.images import run_image_step
from app.syncs.planner import plan_run_items
from app.syncs.processor import BatchProcessor, RunFailure, drive_batches
from app.syncs.retry import plan_retry_items

log = structlog.get_logger(__name__)


async def plan_run(ctx: AppContext, run_id: uuid.UUID) -> None:
    """Fetch the catalogue (a retry: its source's failed items), persist the run's items, and
    hand the run to a driver."""
    token = secrets.token_hex(16)
    if not await state.take_lease(ctx, run_id, token, [RunStatus.QUEUED]):
        return
    run, connection = await _load(ctx, run_id)
    if (refusal := state_of(connection, ctx.keyring).refusal) is not None:  # marked since it was queued
        await state.fail(ctx, run_id, token, reason=refusal)
        return
    if run.started_at is not None:  # already planned (a duplicate job): just make sure it is driven
        await state.release(ctx, run_id, token)
        await enqueue_driver(ctx, run_id)
        return
    async with state.keep_lease(ctx, run_id, token):
        try:
            plan = plan_retry_items if run.kind == RunKind.RETRY else plan_run_items
            status = await plan(ctx, run=run, connection=connection, token=token)
        except Exception as exc:  # noqa: BLE001 - a fault pauses the run, a verdict fails it
            await stop_for(ctx, run_id, token, exc)
            return
    log.info("sync.planned", run_id=str(run_id), status=status)
    if status == RunStatus.RUNNING:
        await enqueue_driver(ctx, run_id)


async def drive_run(ctx: AppContext, run_id: uuid.UUID) -> None:
    """Process pending items in batches until none is left, or the run is paused or cancelled."""
    token = secrets.token_hex(16)
    if not await state.take_lease(ctx, run_id, token, [RunStatus.RUNNING]):
        return
    run, connection = await _load(ctx, run_id)
    settings = connection_settings(connection)
    async with state.keep_lease(ctx, run_id, token) as lease, adapters_for(connection, ctx) as adapters:
        try:
            store = await adapters.store.get_store_settings()
            processor = BatchProcessor(ctx=ctx, run_id=run_id, connection_id=connection.id, lease=lease,
                                       store=adapters.store, store_settings=store, settings=settings)
            while not lease.lost:
                await drive_batches(processor, settings.store_concurrency)
                await _image_step(ctx, lease, connection, adapters, store, settings)
                if await state.finish(ctx, run_id, token):
                    return
                # Pending items remain that another (dead) driver had claimed: wait for their lease.
                await asyncio.sleep(min(5.0, ctx.settings.lease_seconds / 4))
        except Exception as exc:  # noqa: BLE001 - a fault pauses the run, a verdict fails it
            await stop_for(ctx, run_id, token, exc)


async def _image_step(ctx: AppContext, lease: state.Lease, connection: Connection, adapters: Adapters,
                      store: StoreSettings, settings: ConnectionSettings) -> None:
    """Images after products; stops between chunks once the run is paused or cancelled."""
    await run_image_step(ctx, run_id=lease.run_id, connection_id=connection.id, adapters=adapters, store=store,
                         settings=settings, keep_going=lease.driving)


async def recover_stalled_runs(ctx: AppContext) -> int:
    """Re-enqueue a job for every active run whose driver stopped renewing its lease, and for
    every run paused by a fault whose retry time has come."""
    stalled = await state.stalled_runs(ctx)
    for run_id, status in stalled:
        log.warning("sync.recovering", run_id=str(run_id), status=status)
    due = await state.due_retries(ctx)
    for run_id, status in due:
        log.info("sync.retrying", run_id=str(run_id), status=status)
    for run_id, status in stalled + due:
        if status == RunStatus.RUNNING:
            await enqueue_driver(ctx, run_id, recovery=True)
        else:
            await ctx.redis.enqueue_job(PLAN_RUN, str(run_id), _job_id=plan_job_id(run_id, fresh=True))
    return len(stalled) + len(due)


async def enqueue_driver(ctx: AppContext, run_id: uuid.UUID, *, recovery: bool = False) -> None:
    bucket = ctx.settings.lease_seconds if recovery else None
    await ctx.redis.enqueue_job(DRIVE_RUN, str(run_id), _job_id=drive_job_id(run_id, bucket_seconds=bucket))


async def _load(ctx: AppContext, run_id: uuid.UUID) -> tuple[SyncRun, Connection]:
    async with ctx.sessionmaker() as session:
        run = await session.get(SyncRun, run_id)
        connection = await session.get(Connection, run.connection_id) if run else None
        assert run is not None and connection is not None  # the lease was taken, so both exist
        return run, connection


async def stop_for(ctx: AppContext, run_id: uuid.UUID, token: str, exc: BaseException, *,
                   hand_back: bool = False) -> None:
    """Pause the run for a fault (it resumes by itself), or fail it for a verdict about the data
    or the credentials, with a reason a merchant can act on. With `hand_back` (webhook and
    catch-up runs) a fault ends the run instead: the next pass plans its items afresh."""
    verdict = judge(exc)
    log.warning("sync.stopped", run_id=str(run_id), fault=verdict.fault, reason=verdict.reason)
    await mark_for_run(ctx, run_id, exc)  # Zoho refused the sign-in's grant: needs reconnecting
    if verdict.fault and hand_back:
        await state.hand_back(ctx, run_id, token, reason=f"{verdict.reason}; the next pass retries its items")
    elif verdict.fault:
        await state.pause_for_fault(ctx, run_id, token, reason=verdict.reason, wait_seconds=verdict.wait_seconds)
    else:
        await state.fail(ctx, run_id, token, reason=verdict.reason)


@dataclass(frozen=True, slots=True)
class Verdict:
    fault: bool  # True: pause and retry; False: fail the run
    reason: str
    wait_seconds: float | None = None


# What says "the service is away", not "this data or these credentials are wrong".
_FAULTS = (Unavailable, DBAPIError, RedisError, httpx.TransportError, OSError,
           asyncio.TimeoutError)


def judge(exc: BaseException) -> Verdict:
    """Faults pause, verdicts fail. A bug (an error nobody expected) also pauses: the run waits
    with the error as its reason, retried on the backoff, rather than ending for good."""
    if isinstance(exc, QuotaExhausted):
        return Verdict(True, exc.message, exc.retry_after)
    if isinstance(exc, AuthRefused):
        return Verdict(False, exc.reason)
    if isinstance(exc, _FAULTS):
        return Verdict(True, _fault_reason(exc))
    if isinstance(exc, VendorError):
        return Verdict(False, exc.message)
    if isinstance(exc, RunFailure):
        return Verdict(False, str(exc))
    log.exception("sync.unexpected_error", exc_info=exc)
    return Verdict(True, f"unexpected error: {type(exc).__name__}: {exc}")


def _fault_reason(exc: BaseException) -> str:
    if isinstance(exc, VendorError):
        return f"{exc.party} is unavailable: {exc.message}"
    if isinstance(exc, DBAPIError):
        return f"the database is unavailable: {type(exc.orig).__name__ if exc.orig else type(exc).__name__}"
    if isinstance(exc, RedisError):
        return f"Redis is unavailable: {type(exc).__name__}"
    return str(exc) or type(exc).__name__
