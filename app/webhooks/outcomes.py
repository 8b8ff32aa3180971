"""How webhook events get their outcome, and the run id of the run that wrote their item.

A pass or a catch-up settles the events of the items it synced as it goes. An event still
failed or queued whose item a later run wrote (a pass, a catch-up or a manual sync) takes that
run's outcome and run id: what failed then is done now.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Boolean, Table, and_, bindparam, func, or_, text, update

from app.core.context import AppContext
from app.db.session import db_now, rows_touched, transaction
from app.models import STEERED_RUN_KINDS, EventOutcome, ItemAction, ItemStatus, WebhookEvent
from app.syncs.immediate import ItemResult

Settled = tuple[str, str, str | None, uuid.UUID | None]  # item id, outcome, detail, run id


def outcome_of(result: ItemResult) -> tuple[str, str | None]:
    """An item's result in a run as its events' (outcome, detail)."""
    if result.action == ItemAction.UNCHANGED:
        return EventOutcome.UNCHANGED, None
    if result.status == ItemStatus.SYNCED:
        return EventOutcome.SYNCED, f"{result.action}d"
    if result.status == ItemStatus.SKIPPED:
        return EventOutcome.SKIPPED, result.reason
    return EventOutcome.FAILED, result.reason


def verdict(item_ids: list[str], outcome: str, detail: str) -> list[Settled]:
    """The same outcome for every item, with no run: nothing was written."""
    return [(item_id, outcome, detail, None) for item_id in item_ids]


async def settle(ctx: AppContext, connection_id: uuid.UUID, started: datetime, rows: list[Settled]) -> None:
    """Give the items' events received before `started` their outcome (one statement, executed
    for every item). A run that wrote an item (or found it already in step) also settles its
    older failed events: what failed then is done now."""
    if not rows:
        return
    params = [{"b_connection": connection_id, "b_started": started, "b_item": item_id, "b_outcome": outcome,
               "b_detail": detail, "b_run": run_id,
               "b_done": outcome in (EventOutcome.SYNCED, EventOutcome.UNCHANGED)}
              for item_id, outcome, detail, run_id in rows]
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(_SETTLE, params, execution_options={"synchronize_session": False})


_events = cast(Table, WebhookEvent.__table__)
_SETTLE = (
    update(_events)
    .where(_events.c.connection_id == bindparam("b_connection"), _events.c.zoho_item_id == bindparam("b_item"),
           _events.c.received_at <= bindparam("b_started"),
           or_(_events.c.outcome == EventOutcome.QUEUED,
               and_(_events.c.outcome == EventOutcome.FAILED, bindparam("b_done", type_=Boolean))))
    .values(outcome=bindparam("b_outcome"), detail=bindparam("b_detail"), run_id=bindparam("b_run"),
            processed_at=func.now())
)


_WRITTEN_BY_STEERED_RUNS = text(f"""
    UPDATE webhook_events e
    SET outcome = CASE WHEN i.action = 'unchanged' THEN 'unchanged' ELSE 'synced' END,
        detail = CASE WHEN i.action = 'unchanged' THEN NULL ELSE i.action || 'd' END,
        run_id = r.id, processed_at = now()
    FROM sync_runs r JOIN sync_run_items i ON i.run_id = r.id AND i.status = 'synced' AND i.kind <> 'variable'
    WHERE r.kind IN ({', '.join(repr(str(kind)) for kind in STEERED_RUN_KINDS)}) AND r.status = 'completed'
      AND r.finished_at > :since AND r.finished_at <= :until
      AND e.connection_id = r.connection_id AND e.zoho_item_id = i.zoho_item_id
      AND e.outcome IN ('queued', 'failed') AND e.received_at <= r.started_at
""")
_SETTLED_UNTIL = "skubridge:webhook-events-settled-until"
# A run's `finished_at` is its transaction's start time, so a run can commit after a call whose
# `until` is already past its `finished_at`. Each call therefore looks back this much before the
# last `until` too; settling is idempotent (only queued or failed events change), so the overlap
# costs a re-read of the last minutes' runs and nothing more.
SETTLE_OVERLAP = timedelta(minutes=10)


async def settle_events_written_by_runs(ctx: AppContext) -> int:
    """Failed or queued events whose item a steered run (manual, scheduled, or a retry of failed
    items) finished since the last call wrote take that run's outcome: each of those runs read
    the item from Zoho after it started, so after the event (passes and catch-ups settle theirs
    as they go). Driven by the runs, so it reads their items and the events of those items only;
    runs that finished in the SETTLE_OVERLAP before the last call are read again."""
    async with transaction(ctx.sessionmaker) as session:
        until = await db_now(session)
        stored = await ctx.redis.get(_SETTLED_UNTIL)
        since = datetime.fromisoformat(stored.decode()) - SETTLE_OVERLAP if stored else until - timedelta(days=1)
        result = await session.execute(_WRITTEN_BY_STEERED_RUNS, {"since": since, "until": until})
        settled = rows_touched(result)
    await ctx.redis.set(_SETTLED_UNTIL, until.isoformat())
    return settled or 0
