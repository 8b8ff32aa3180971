"""Webhook events whose pass job was lost get a job again (run by the recovery cron)."""

from __future__ import annotations

from sqlalchemy import text

from app.core.context import AppContext
from app.core.jobs import PROCESS_WEBHOOK_EVENTS, webhook_recovery_job_id
from app.webhooks.passes import backoff_key, pass_lock_key

_STALE_EVENTS = text("""
    SELECT DISTINCT connection_id FROM webhook_events
    WHERE outcome = 'queued' AND received_at < now() - make_interval(secs => :age)
""")


def stale_after(ctx: AppContext) -> float:
    """How long an event may stay queued before its job counts as lost: two leases (a killed
    pass holds its connection for one), at most 30 s."""
    return min(30.0, 2 * ctx.settings.lease_seconds)


async def requeue_stale_events(ctx: AppContext, *, age_seconds: float | None = None) -> int:
    """Events still queued long after arrival (their enqueue met a job just finishing, or a job
    died with its worker) get a job under a fresh id, which no dead job's in-progress key can
    block. A connection whose pass is running or backing off is left alone. How many jobs."""
    age = stale_after(ctx) if age_seconds is None else age_seconds
    async with ctx.sessionmaker() as session:
        connections = list((await session.execute(_STALE_EVENTS, {"age": age})).scalars())
    enqueued = 0
    for connection_id in connections:
        if await ctx.redis.exists(pass_lock_key(connection_id), backoff_key(connection_id)):
            continue
        job_id = webhook_recovery_job_id(connection_id, bucket_seconds=max(age, 1.0))
        if await ctx.redis.enqueue_job(PROCESS_WEBHOOK_EVENTS, str(connection_id), _job_id=job_id):
            enqueued += 1
    return enqueued
