"""arq worker: settings, a typed job context, and thin jobs that call app services.

Runs are driven under a lease in Postgres (app/syncs/lease.py), so the arq job timeout is only a
backstop: a long run keeps its job alive by renewing the lease, and a dead worker's run is
picked up by `recover_stalled_runs`, which every worker runs on a short cron and at start-up.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, TypedDict

import structlog
from arq import cron
from arq.worker import func

from app.config import get_settings
from app.core.context import AppContext, open_context, redis_settings
from app.core.jobs import DRIVE_RUN, PLAN_RUN, RECOVER_STALLED_RUNS
from app.core.logging import configure_logging
from app.syncs import runner

log = structlog.get_logger(__name__)
JOB_TIMEOUT_S = 12 * 3600


class JobContext(TypedDict, total=False):
    redis: Any
    job_id: str
    job_try: int
    app: AppContext


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


async def recover_stalled_runs(ctx: JobContext) -> int:
    return await runner.recover_stalled_runs(ctx["app"])


_settings = get_settings()


class WorkerSettings:
    functions = [
        func(plan_run, name=PLAN_RUN, timeout=JOB_TIMEOUT_S, max_tries=3),
        func(drive_run, name=DRIVE_RUN, timeout=JOB_TIMEOUT_S, max_tries=3),
    ]
    cron_jobs = [
        cron(recover_stalled_runs, name=RECOVER_STALLED_RUNS, run_at_startup=True, unique=True,
             second=set(range(0, 60, _settings.recovery_interval_seconds)), timeout=300),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings(_settings)
    queue_name = _settings.queue_name
    max_jobs = 20
    keep_result = 600
    health_check_interval = 30
