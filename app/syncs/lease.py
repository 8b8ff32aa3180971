"""The lease that lets exactly one job drive a run at a time, and lets another take over when
that job's worker dies.

A driver writes its token into `sync_runs.driver_token` and renews `heartbeat_at` (and the
`claimed_at` of the items it holds) every third of the lease. A lease whose heartbeat is older
than `lease_seconds` is stale: the recovery job re-enqueues a driver, which takes it over, and
the items the dead driver had claimed become claimable again.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

import structlog
from sqlalchemy import text

from app.core.context import AppContext
from app.db.session import transaction

log = structlog.get_logger(__name__)

_TAKE = text("""
    UPDATE sync_runs SET driver_token = :token, heartbeat_at = now()
    WHERE id = :run_id AND status = ANY(:statuses)
      AND (driver_token IS NULL OR driver_token = :token
           OR heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => :lease))
    RETURNING id
""")
_RENEW_RUN = text("UPDATE sync_runs SET heartbeat_at = now() WHERE id = :run_id AND driver_token = :token")
_RENEW_ITEMS = text("""
    UPDATE sync_run_items SET claimed_at = now()
    WHERE run_id = :run_id AND claim_token = :token AND status = 'pending'
""")


async def take_lease(ctx: AppContext, run_id: uuid.UUID, token: str, statuses: Sequence[str]) -> bool:
    """Become the run's driver if it is in one of `statuses` and nobody live drives it."""
    async with transaction(ctx.sessionmaker) as session:
        row = await session.execute(_TAKE, {"run_id": run_id, "token": token, "statuses": list(statuses),
                                            "lease": ctx.settings.lease_seconds})
        return row.first() is not None


async def renew(ctx: AppContext, run_id: uuid.UUID, token: str) -> None:
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(_RENEW_RUN, {"run_id": run_id, "token": token})
        await session.execute(_RENEW_ITEMS, {"run_id": run_id, "token": token})


@contextlib.asynccontextmanager
async def keep_lease(ctx: AppContext, run_id: uuid.UUID, token: str) -> AsyncIterator[None]:
    """Renew the lease in the background for as long as the block runs."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(ctx.settings.lease_seconds / 3)
            try:
                await renew(ctx, run_id, token)
            except Exception:  # a missed beat is survivable; the next one may succeed
                log.warning("lease.renew_failed", run_id=str(run_id), exc_info=True)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
