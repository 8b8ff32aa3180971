"""Jobs by name, enqueued only after the transaction that motivates them commits.

`app/` never imports `workers/`: it enqueues jobs by name. Request handlers collect jobs on the
session (`defer_job`); the session dependency sends them once the commit succeeded, and drops
them on rollback, so a worker never looks for a row that does not exist.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

PLAN_RUN = "plan_run"
DRIVE_RUN = "drive_run"
RECOVER_STALLED_RUNS = "recover_stalled_runs"
PROCESS_WEBHOOK_ITEM = "process_webhook_item"
CATCH_UP = "catch_up"
SCHEDULE_CATCHUPS = "schedule_catchups"
PURGE_OLD_RECORDS = "purge_old_records"


@dataclass(frozen=True)
class PendingJob:
    function: str
    args: tuple[Any, ...]
    job_id: str | None
    defer_by: float | None = None


def defer_job(session: AsyncSession, function: str, *args: Any, job_id: str | None = None,
              defer_by: float | None = None) -> None:
    session.info.setdefault("jobs", []).append(PendingJob(function, args, job_id, defer_by))


async def flush_jobs(session: AsyncSession, redis: ArqRedis) -> None:
    for job in session.info.pop("jobs", []):
        await redis.enqueue_job(job.function, *job.args, _job_id=job.job_id, _defer_by=job.defer_by)


def drop_jobs(session: AsyncSession) -> None:
    session.info.pop("jobs", None)


def plan_job_id(run_id: uuid.UUID) -> str:
    return f"plan:{run_id}"


def drive_job_id(run_id: uuid.UUID, *, bucket_seconds: float | None = None) -> str:
    """A fresh id per driver; with `bucket_seconds`, one id per time bucket, so a recovery that
    fires several times while the queue is busy enqueues one driver, not one per tick."""
    if bucket_seconds:
        return f"drive:{run_id}:r{int(time.time() // bucket_seconds)}"
    return f"drive:{run_id}:{secrets.token_hex(6)}"


def webhook_job_id(connection_id: uuid.UUID, item_id: str) -> str:
    """One job per item while one is queued: a burst of events for an item becomes one sync."""
    return f"webhook:{connection_id}:{item_id}"


def catchup_job_id(connection_id: uuid.UUID) -> str:
    return f"catchup:{connection_id}:{secrets.token_hex(4)}"
