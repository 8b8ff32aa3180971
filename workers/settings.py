"""arq worker: settings, a typed job context, and thin jobs that call app services.

Runs are driven under a lease in Postgres (app/syncs/state.py), so the arq job timeout is only a
backstop: a long run keeps its job alive by renewing the lease, and a dead worker's run is
picked up by `recover_stalled_runs`, which every worker runs on a short cron and at start-up.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypedDict, cast

import structlog
from arq import cron
from arq.typing import WorkerCoroutine
from arq.worker import Retry, func

from app.config import get_settings
from app.core import retention
from app.core.context import AppContext, open_context, redis_settings
from app.core.jobs import (
    CATCH_UP,
    DRIVE_RUN,
    PLAN_RUN,
    PROCESS_WEBHOOK_EVENTS,
    PURGE_OLD_RECORDS,
    RECOVER_STALLED_RUNS,
    RUN_PREVIEW,
    SCHEDULE_CATCHUPS,
    START_SCHEDULED_RUNS,
)
from app.core.logging import configure_logging
from app.previews.service import recover_lost_previews
from app.previews.service import run_preview as compute_preview
from app.syncs import runner, schedules
from app.webhooks import catchup, outcomes, passes, recovery

log = structlog.get_logger(__name__)
JOB_TIMEOUT_S = 12 * 3600
WEBHOOK_MAX_TRIES = 10**9


class JobContext(TypedDict, total=False):
    redis: Any
    job_id: str
    job_try: int
    app: AppContext


def _job(function: Callable[..., Awaitable[Any]]) -> WorkerCoroutine:
    """arq types a job's context as a plain dict; `JobContext` is a typed view of that same dict,
    which a TypedDict cannot be declared as, so the job is handed to arq with its type widened."""
    return cast(WorkerCoroutine, function)


async def startup(ctx: JobContext) -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    ctx["app"] = await open_context(settings, redis=ctx["redis"])
    if port := os.environ.get("WORKER_METRICS_PORT"):
        from prometheus_client import start_http_server

        start_http_server(int(port))
    log.info("worker.started", pid=os.getpid())


async def shutdown(ctx: JobContext) -> None:
    if "app" in ctx:
        await ctx["app"].close()


async def plan_run(ctx: JobContext, run_id: str) -> None:
    with structlog.contextvars.bound_contextvars(run_id=run_id, job_id=ctx.get("job_id")):
        await runner.plan_run(ctx["app"], uuid.UUID(run_id))


async def drive_run(ctx: JobContext, run_id: str) -> None:
    with structlog.contextvars.bound_contextvars(run_id=run_id, job_id=ctx.get("job_id")):
        await runner.drive_run(ctx["app"], uuid.UUID(run_id))


async def run_preview(ctx: JobContext, preview_id: str) -> None:
    with structlog.contextvars.bound_contextvars(preview_id=preview_id, job_id=ctx.get("job_id")):
        await compute_preview(ctx["app"], uuid.UUID(preview_id))


async def recover_stalled_runs(ctx: JobContext) -> int:
    """Runs whose worker died get a new driver; webhook events left queued get a job; previews
    whose job was lost are enqueued again or failed."""
    await recovery.requeue_stale_events(ctx["app"])
    await recover_lost_previews(ctx["app"])
    return await runner.recover_stalled_runs(ctx["app"])


async def process_webhook_events(ctx: JobContext, connection_id: str) -> None:
    with structlog.contextvars.bound_contextvars(connection_id=connection_id, job_id=ctx.get("job_id")):
        again = await passes.process_events(ctx["app"], uuid.UUID(connection_id), job_id=ctx.get("job_id"))
    if again is not None:
        # Same job id, so events arriving meanwhile still coalesce into this one job.
        raise Retry(defer=again)


async def catch_up(ctx: JobContext, connection_id: str) -> None:
    with structlog.contextvars.bound_contextvars(connection_id=connection_id, job_id=ctx.get("job_id")):
        await catchup.catch_up(ctx["app"], uuid.UUID(connection_id))


async def schedule_catchups(ctx: JobContext) -> int:
    await outcomes.settle_events_written_by_runs(ctx["app"])
    return await catchup.schedule_catchups(ctx["app"])


async def start_scheduled_runs(ctx: JobContext) -> int:
    """Every minute: the connections' schedules that fell due start their runs (app/syncs/schedules.py)."""
    return len(await schedules.start_due_runs(ctx["app"], datetime.now(UTC)))


async def purge_old_records(ctx: JobContext) -> tuple[int, int]:
    return await retention.purge_old_records(ctx["app"])


_settings = get_settings()


class WorkerSettings:
    functions = [
        func(_job(plan_run), name=PLAN_RUN, timeout=JOB_TIMEOUT_S, max_tries=3),
        func(_job(drive_run), name=DRIVE_RUN, timeout=JOB_TIMEOUT_S, max_tries=3),
        # keep_result=0: once done, the connection's job id is free for the next event at once.
        # max_tries is no limit: the job backs off on its own count of vendor failures, while
        # arq's count also grows with every wait for another pass and every follow-up.
        func(_job(process_webhook_events), name=PROCESS_WEBHOOK_EVENTS, timeout=600, max_tries=WEBHOOK_MAX_TRIES,
             keep_result=0),
        func(_job(run_preview), name=RUN_PREVIEW, timeout=3600, max_tries=1),
        func(_job(catch_up), name=CATCH_UP, timeout=JOB_TIMEOUT_S, max_tries=3, keep_result=0),
    ]
    cron_jobs = [
        cron(_job(recover_stalled_runs), name=RECOVER_STALLED_RUNS, run_at_startup=True, unique=True,
             second=set(range(0, 60, _settings.recovery_interval_seconds)), timeout=300),
        cron(_job(schedule_catchups), name=SCHEDULE_CATCHUPS, unique=True, second={5}, timeout=60),
        # Second 1: a due time at the full minute is claimed within a second or so of it.
        cron(_job(start_scheduled_runs), name=START_SCHEDULED_RUNS, unique=True, second={1}, timeout=120),
        cron(_job(purge_old_records), name=PURGE_OLD_RECORDS, unique=True, hour={3}, minute={17}, second={0},
             timeout=3600),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings(_settings)
    queue_name = _settings.queue_name
    max_jobs = 20
    # How often an idle worker looks for due jobs: a webhook's sync should start within a tenth
    # of a second, not arq's default half second.
    poll_delay = 0.1
    keep_result = 600
    health_check_interval = 30
