"""Jobs by name, enqueued only after the transaction that motivates them commits.

`app/` never imports `workers/`: it enqueues jobs by name. Request handlers collect jobs on the
session (`defer_job`); the session dependency sends them once the commit succeeded, and drops
them on rollback, so a worker never looks for a row that does not exist.

Every job id is built here, so what an id means (one per run, one per connection while queued,
a fresh one per retry) is decided in one place. arq keeps a running job's id blocked by an
"in-progress" key that lives for the longest job timeout of the worker (12 h here): a job that
must come back soon after a SIGKILL shortens its own key with `hold_in_progress`.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.heartbeat import heartbeat
from app.core.scripts import run_script

log = structlog.get_logger(__name__)

PLAN_RUN = "plan_run"
DRIVE_RUN = "drive_run"
RECOVER_STALLED_RUNS = "recover_stalled_runs"
PROCESS_WEBHOOK_EVENTS = "process_webhook_events"
CATCH_UP = "catch_up"
SCHEDULE_CATCHUPS = "schedule_catchups"
START_SCHEDULED_RUNS = "start_scheduled_runs"
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


def plan_job_id(run_id: uuid.UUID, *, fresh: bool = False) -> str:
    """One planner per run; `fresh` for a re-plan or a recovery, which must not meet the id of
    the planner it replaces."""
    return f"plan:{run_id}:{secrets.token_hex(4)}" if fresh else f"plan:{run_id}"


def drive_job_id(run_id: uuid.UUID, *, bucket_seconds: float | None = None) -> str:
    """A fresh id per driver; with `bucket_seconds`, one id per time bucket, so a recovery that
    fires several times while the queue is busy enqueues one driver, not one per tick."""
    if bucket_seconds:
        return f"drive:{run_id}:r{int(time.time() // bucket_seconds)}"
    return f"drive:{run_id}:{secrets.token_hex(6)}"


def webhook_job_id(connection_id: uuid.UUID) -> str:
    """One job per connection while one is queued: a burst of events becomes one pass."""
    return f"webhook:{connection_id}"


WEBHOOK_FOLLOW_UP_SUFFIX = ":next"  # the pass enqueued while the connection's job runs


def webhook_recovery_job_id(connection_id: uuid.UUID, *, bucket_seconds: float) -> str:
    """A fresh id for events left queued, one per time bucket: it never meets the id of a job
    that died holding arq's in-progress key, and repeated recovery ticks add one job, not many."""
    return f"webhook:{connection_id}:stale:{int(time.time() // bucket_seconds)}"


def catchup_job_id(connection_id: uuid.UUID, *, scheduled: bool = False) -> str:
    """A fresh id for a catch-up asked for now; the scheduled one has a fixed id, so a schedule
    that fires while one is queued adds nothing."""
    return f"catchup:{connection_id}:scheduled" if scheduled else f"catchup:{connection_id}:{secrets.token_hex(4)}"


def preview_job_id(preview_id: uuid.UUID, *, retry: bool = False) -> str:
    """A preview's job; a preview whose job was lost is enqueued once more under `retry`'s id."""
    return f"preview:{preview_id}:r" if retry else f"preview:{preview_id}"


def job_key(job_id: str) -> str:
    """arq's key holding a queued or running job (gone once it finished)."""
    return job_key_prefix + job_id


def in_progress_key(job_id: str) -> str:
    """arq's key that keeps a running job's id from starting again."""
    return in_progress_key_prefix + job_id


_HOLD = """
for i, key in ipairs(KEYS) do
  if ARGV[i + 1] == '' or redis.call('GET', key) == ARGV[i + 1] then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 1
"""


async def renew_keys(redis: ArqRedis, keys: dict[str, str], *, ttl_ms: int) -> None:
    """Give `keys` `ttl_ms` more to live; a key whose value is given is renewed only while it
    still holds that value (an owner token), the others only while they exist."""
    await run_script(redis, _HOLD, list(keys), [ttl_ms, *keys.values()])


@asynccontextmanager
async def hold_in_progress(redis: ArqRedis, keys: dict[str, str], *, ttl_seconds: float) -> AsyncIterator[None]:
    """Keep `keys` alive for `ttl_seconds` at a time while the block runs, renewing every third
    of it: when the process dies they expire within `ttl_seconds`, not the 12 h arq gives its
    in-progress key. A Redis blip is logged; the next renewal, a third of a lease on, may do."""
    ttl_ms = max(1, int(ttl_seconds * 1000))
    async with heartbeat(lambda: renew_keys(redis, keys, ttl_ms=ttl_ms), every=ttl_seconds / 3, immediately=True,
                         errors=RedisError, event="jobs.renew_failed", keys=list(keys)):
        yield


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
    from arq.constants import result_key_prefix
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
