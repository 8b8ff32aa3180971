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


# arq's enqueue_job costs a WATCH/MULTI transaction (several round trips) per job. For the
# webhook intake, which enqueues many jobs per batch, the same check-and-set runs as one Lua
# script per job, all in one pipelined round trip; the job it stores is arq's own serialisation,
# so workers see exactly what enqueue_job would have written.
_ENQUEUE_UNIQUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('PSETEX', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
return 1
"""


async def enqueue_unique(redis: ArqRedis, jobs: list[tuple[str, str, tuple[Any, ...]]], *,
                         defer_by: float | None = None) -> int:
    """Enqueue (function, job_id, args) jobs unless a job with that id exists; how many were new."""
    from arq.constants import job_key_prefix, result_key_prefix
    from arq.jobs import serialize_job
    from arq.utils import timestamp_ms

    if not jobs:
        return 0
    now = timestamp_ms()
    score = now + int((defer_by or 0) * 1000)
    expires = score - now + redis.expires_extra_ms
    script = redis.register_script(_ENQUEUE_UNIQUE)
    async with redis.pipeline(transaction=False) as pipe:
        for function, job_id, args in jobs:
            payload = serialize_job(function, args, {}, None, now, serializer=redis.job_serializer)
            await script(keys=[job_key_prefix + job_id, result_key_prefix + job_id, redis.default_queue_name],
                         args=[payload, expires, job_id, score], client=pipe)
        results = await pipe.execute()
    return sum(int(r) for r in results)
