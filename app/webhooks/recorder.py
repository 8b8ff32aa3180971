"""Recording webhook events in batches, so the intake keeps up with bursts.

Each request still waits until its own event is committed (nothing is acknowledged that is not
recorded), but the requests that arrive together share one multi-row INSERT, one commit and one
Redis round of enqueues, instead of a transaction each.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.context import AppContext
from app.core.jobs import PROCESS_WEBHOOK_EVENTS, enqueue_unique, webhook_job_id
from app.models import EventOutcome, WebhookEvent

log = structlog.get_logger(__name__)
MAX_BATCH = 500
_INSERT = insert(WebhookEvent).returning(WebhookEvent.id, sort_by_parameter_order=True)


@dataclass(slots=True)
class _Pending:
    row: dict[str, Any]
    done: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class EventRecorder:
    def __init__(self) -> None:
        self._queue: list[_Pending] = []
        self._flushing: asyncio.Task[None] | None = None
        # One connection kept for the intake: no pool checkout and no pre-ping per batch.
        self._conn: AsyncConnection | None = None

    async def record(self, ctx: AppContext, *, connection_id: uuid.UUID, item_id: str | None, sku: str | None,
                     outcome: str, detail: str | None) -> int:
        """Commit one event (together with whatever else is waiting) and, for a queued event,
        enqueue its item's job; the event id."""
        pending = _Pending({"connection_id": connection_id, "zoho_item_id": item_id, "sku": sku,
                            "outcome": outcome, "detail": detail, "processed_at": None})
        self._queue.append(pending)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._drain(ctx))
        event_id: int = await pending.done
        return event_id

    async def _drain(self, ctx: AppContext) -> None:
        while self._queue:
            await asyncio.sleep(0)  # let the requests already in flight join this batch
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                ids = await self._insert(ctx, [p.row for p in batch])
                await self._enqueue(ctx, [p.row for p in batch])
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
                log.error("webhook.record_failed", error=str(exc), events=len(batch))
                for p in batch:
                    p.done.set_exception(exc)
                continue
            for p, event_id in zip(batch, ids, strict=True):
                p.done.set_result(event_id)

    async def _insert(self, ctx: AppContext, rows: list[dict[str, Any]]) -> list[int]:
        """One multi-row INSERT and commit; a dropped connection is replaced and tried once more."""
        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await ctx.engine.connect()
                async with self._conn.begin():
                    result = await self._conn.execute(_INSERT, rows)
                    return list(result.scalars())
            except DBAPIError as exc:
                if not exc.connection_invalidated or attempt == 2:
                    raise
                self._conn = None
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    @staticmethod
    async def _enqueue(ctx: AppContext, rows: list[dict[str, Any]]) -> None:
        """One job per connection (a duplicate job id is refused: that is the coalescing)."""
        connections = {row["connection_id"] for row in rows if row["outcome"] == EventOutcome.QUEUED}
        await enqueue_unique(ctx.redis, [
            (PROCESS_WEBHOOK_EVENTS, webhook_job_id(connection_id), (str(connection_id),))
            for connection_id in connections], defer_by=ctx.settings.webhook_coalesce_seconds, follow_up_suffix=":next")
