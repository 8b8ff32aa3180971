"""The jobs' bodies: plan a run, drive it to the end, and recover runs whose worker died.

Workers call these with the process's AppContext; each reads its state from Postgres, so a job
that arq runs twice, or that a recovery re-enqueues, does no harm.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid

import structlog
from sqlalchemy import text

from app.catalog.types import StoreSettings
from app.connections.clients import woo_client_for, zoho_client_for
from app.connections.schemas import ConnectionSettings
from app.connections.service import connection_settings
from app.core.context import AppContext
from app.core.jobs import DRIVE_RUN, PLAN_RUN, drive_job_id
from app.db.session import transaction
from app.integrations.woocommerce.client import WooClient
from app.integrations.woocommerce.errors import WooAuthError, WooError
from app.integrations.zoho.errors import ZohoAuthError, ZohoError, ZohoQuotaExhausted
from app.logs.service import entry, write_logs
from app.models import Connection, RunStatus, SyncRun
from app.syncs.images import run_image_step
from app.syncs.lease import keep_lease, take_lease
from app.syncs.planner import build_plan, save_plan
from app.syncs.processor import BatchProcessor, RunFailure, drive_batches

log = structlog.get_logger(__name__)


async def plan_run(ctx: AppContext, run_id: uuid.UUID) -> None:
    """Fetch the catalogue, persist the run's items, and hand the run to a driver."""
    token = secrets.token_hex(16)
    if not await take_lease(ctx, run_id, token, [RunStatus.QUEUED, RunStatus.PAUSED]):
        return
    run, connection = await _load(ctx, run_id)
    if run.started_at is not None:  # already planned (a duplicate job): just make sure it is driven
        await _release(ctx, run_id, token)
        await enqueue_driver(ctx, run_id)
        return
    async with keep_lease(ctx, run_id, token):
        try:
            plan = await build_plan(ctx, connection)
        except Exception as exc:  # noqa: BLE001 - every failure ends the run with its reason
            await _stop_for(ctx, run, exc)
            return
    status = await save_plan(ctx, run, plan, token)
    log.info("sync.planned", run_id=str(run_id), items=len(plan.rows), status=status)
    if status == RunStatus.RUNNING:
        await enqueue_driver(ctx, run_id)


async def drive_run(ctx: AppContext, run_id: uuid.UUID) -> None:
    """Process pending items in batches until none is left, or the run is paused or cancelled."""
    token = secrets.token_hex(16)
    if not await take_lease(ctx, run_id, token, [RunStatus.RUNNING]):
        return
    run, connection = await _load(ctx, run_id)
    settings = connection_settings(connection)
    async with keep_lease(ctx, run_id, token), woo_client_for(connection, ctx) as woo:
        try:
            store = await woo.get_store_settings()
            processor = BatchProcessor(ctx=ctx, run_id=run_id, connection_id=connection.id, token=token,
                                       woo=woo, store=store, settings=settings)
            while True:
                await drive_batches(processor, settings.store_concurrency)
                await _image_step(ctx, run_id, token, connection, woo, store, settings)
                if await _finish_or_release(ctx, run_id, token):
                    return
                # Pending items remain that another (dead) driver had claimed: wait for their lease.
                await asyncio.sleep(min(5.0, ctx.settings.lease_seconds / 4))
        except Exception as exc:  # noqa: BLE001 - a run ends with its reason, never loops on a bug
            await _stop_for(ctx, run, exc)


async def _image_step(ctx: AppContext, run_id: uuid.UUID, token: str, connection: Connection, woo: WooClient,
                      store: StoreSettings, settings: ConnectionSettings) -> None:
    """Images after products; stops between chunks when the run is paused or cancelled."""

    async def still_running() -> bool:
        async with ctx.sessionmaker() as session:
            return (await session.execute(_STILL_RUNNING, {"run_id": run_id, "token": token})).first() is not None

    async with zoho_client_for(connection, ctx) as zoho:
        await run_image_step(ctx, run_id=run_id, connection=connection, woo=woo, zoho=zoho, store=store,
                             settings=settings, keep_going=still_running)


async def recover_stalled_runs(ctx: AppContext) -> int:
    """Re-enqueue a job for every active run whose driver stopped renewing its lease."""
    async with ctx.sessionmaker() as session:
        rows = (await session.execute(_STALLED, {"lease": ctx.settings.lease_seconds})).all()
    for run_id, status in rows:
        log.warning("sync.recovering", run_id=str(run_id), status=status)
        if status == RunStatus.RUNNING:
            await enqueue_driver(ctx, run_id, recovery=True)
        else:
            await ctx.redis.enqueue_job(PLAN_RUN, str(run_id), _job_id=f"plan:{run_id}:{secrets.token_hex(4)}")
    return len(rows)


async def enqueue_driver(ctx: AppContext, run_id: uuid.UUID, *, recovery: bool = False) -> None:
    bucket = ctx.settings.lease_seconds if recovery else None
    await ctx.redis.enqueue_job(DRIVE_RUN, str(run_id), _job_id=drive_job_id(run_id, bucket_seconds=bucket))


_STALLED = text("""
    SELECT id, status FROM sync_runs
    WHERE status IN ('queued', 'running')
      AND coalesce(heartbeat_at, created_at) < now() - make_interval(secs => :lease)
      AND (status = 'running' OR started_at IS NULL)
""")
_COMPLETE = text("""
    UPDATE sync_runs SET status = 'completed', finished_at = now(), driver_token = NULL
    WHERE id = :run_id AND driver_token = :token AND status = 'running'
      AND NOT EXISTS (SELECT 1 FROM sync_run_items WHERE run_id = :run_id AND status = 'pending')
    RETURNING connection_id
""")
_RELEASE = text("""
    UPDATE sync_runs SET driver_token = NULL
    WHERE id = :run_id AND driver_token = :token AND (status <> 'running' OR :force)
    RETURNING id
""")
_STILL_RUNNING = text("SELECT 1 FROM sync_runs WHERE id = :run_id AND driver_token = :token AND status = 'running'")
_STILL_MINE = text("SELECT 1 FROM sync_runs WHERE id = :run_id AND driver_token = :token")


async def _finish_or_release(ctx: AppContext, run_id: uuid.UUID, token: str) -> bool:
    """True when this driver is done: the run completed, stopped, or is no longer ours.
    False when it is still running with pending items, e.g. resumed while we were pausing."""
    async with transaction(ctx.sessionmaker) as session:
        connection_id = (await session.execute(_COMPLETE, {"run_id": run_id, "token": token})).scalar()
        if connection_id is not None:
            await write_logs(session, [entry(level="info", action="run", status="completed", run_id=run_id,
                                             connection_id=connection_id, message="run completed")])
            return True
        if (await session.execute(_RELEASE, {"run_id": run_id, "token": token, "force": False})).first():
            return True
        return (await session.execute(_STILL_MINE, {"run_id": run_id, "token": token})).first() is None


async def _release(ctx: AppContext, run_id: uuid.UUID, token: str) -> None:
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(_RELEASE, {"run_id": run_id, "token": token, "force": True})


async def _load(ctx: AppContext, run_id: uuid.UUID) -> tuple[SyncRun, Connection]:
    async with ctx.sessionmaker() as session:
        run = await session.get(SyncRun, run_id)
        connection = await session.get(Connection, run.connection_id) if run else None
        assert run is not None and connection is not None  # the lease was taken, so both exist
        return run, connection


async def _stop_for(ctx: AppContext, run: SyncRun, exc: Exception) -> None:
    """End (or, for a spent Zoho budget, pause) the run with a reason a merchant can act on."""
    status, reason = _verdict(exc)
    log.warning("sync.stopped", run_id=str(run.id), status=status, reason=reason)
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(text("""
            UPDATE sync_runs SET status = :status, reason = :reason, driver_token = NULL,
                   finished_at = CASE WHEN :final THEN now() ELSE finished_at END
            WHERE id = :run_id AND status IN ('queued', 'running', 'paused')
        """), {"status": str(status), "reason": reason, "run_id": run.id, "final": status == RunStatus.FAILED})
        await write_logs(session, [entry(level="error", action="run", status=status, run_id=run.id,
                                         connection_id=run.connection_id, message=f"run {status}: {reason}")])


def _verdict(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, ZohoQuotaExhausted):
        return RunStatus.PAUSED, exc.message
    if isinstance(exc, ZohoAuthError):
        return RunStatus.FAILED, f"Zoho refused the credentials: {exc.message}"
    if isinstance(exc, WooAuthError):
        return RunStatus.FAILED, f"the store refused the credentials: {exc.message}"
    if isinstance(exc, ZohoError | WooError):
        return RunStatus.FAILED, exc.message
    if isinstance(exc, RunFailure):
        return RunStatus.FAILED, str(exc)
    log.exception("sync.unexpected_error", exc_info=exc)
    return RunStatus.FAILED, f"unexpected error: {type(exc).__name__}: {exc}"
