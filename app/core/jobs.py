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
PROCESS_WEBHOOK_EVENTS = "process_webhook_events"
CATCH_UP = "catch_up"
SCHEDULE_CATCHUPS = "schedule_catchups"
PURGE_OLD_RECORDS = "purge_old_records"
RUN_PREVIEW = "run_preview"


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


def webhook_job_id(connection_id: uuid.UUID) -> str:
    """One job per connection while one is queued: a burst of events becomes one pass."""
    return f"webhook:{connection_id}"


def catchup_job_id(connection_id: uuid.UUID) -> str:
    return f"catchup:{connection_id}:{secrets.token_hex(4)}"


# arq's enqueue_job costs a WATCH/MULTI transaction (several round trips) per job. For the
# webhook intake, which enqueues jobs for every batch of events, the same check-and-set runs as
# one Lua script per job, all in one pipelined round trip; the job it stores is arq's own
# serialisation, so workers see exactly what enqueue_job would have written.
#
# A job id that is queued refuses a second job (the queued one will see the new events). A job
# id that is *running* may already have looked for events, so the script then enqueues a
# follow-up under a second id; the two never run at once (see process_events' lock).
_ENQUEUE_UNIQUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) == 0 then
  redis.call('PSETEX', KEYS[1], ARGV[2], ARGV[1])
  redis.call('ZADD', KEYS[6], ARGV[5], ARGV[3])
  return 1
end
if ARGV[4] == '' or redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[4], KEYS[5]) > 0 then return 0 end
redis.call('PSETEX', KEYS[4], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[5], ARGV[4])
return 2
"""


async def enqueue_unique(redis: ArqRedis, jobs: list[tuple[str, str, tuple[Any, ...]]], *,
                         defer_by: float | None = None, follow_up_suffix: str = "") -> int:
    """Enqueue (function, job_id, args) jobs unless a job with that id is queued; with
    `follow_up_suffix`, a job whose id is running gets a follow-up `job_id + suffix`.
    How many were enqueued."""
    from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix
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
            follow_up = job_id + follow_up_suffix if follow_up_suffix else ""
            keys = [job_key_prefix + job_id, result_key_prefix + job_id, in_progress_key_prefix + job_id,
                    job_key_prefix + follow_up, result_key_prefix + follow_up, redis.default_queue_name]
            await script(keys=keys, args=[payload, expires, job_id, follow_up, score], client=pipe)
        results = await pipe.execute()
    return sum(1 for r in results if int(r))
