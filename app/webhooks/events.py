"""The webhook event log: what the intake recorded for a connection and what became of each
event, newest first. One query for `GET .../webhook/events` and the console's log page.

What the log holds: every delivery the intake verified (queued, then its outcome; ignored while
the webhook is inactive; rejected for a signed body that is not an item). Deliveries refused
before that (unknown connection, bad or missing signature, too large) leave no row: they are
counted on /metrics (app/webhooks/rejections.py). Rows older than RETENTION_DAYS (30) are
deleted by the daily purge (app/core/retention.py, 03:17), so up to a day's more may still be
there between two purges; the console shows the retention period only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import WebhookEvent


@dataclass(frozen=True, slots=True)
class EventFilter:
    connection_id: uuid.UUID
    outcome: str | None = None
    sku: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


async def search_events(session: AsyncSession, flt: EventFilter, *, limit: int,
                        offset: int) -> tuple[int, list[WebhookEvent]]:
    """The matching events' count and one page of them, newest first."""
    where = _where(flt)
    total = await session.scalar(select(func.count()).select_from(WebhookEvent).where(*where))
    newest_first = select(WebhookEvent).where(*where).order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc())
    rows = await session.scalars(newest_first.limit(limit).offset(offset))
    return int(total or 0), list(rows.all())


def _where(flt: EventFilter) -> list[ColumnElement[bool]]:
    where = [WebhookEvent.connection_id == flt.connection_id]
    where += [WebhookEvent.outcome == flt.outcome] if flt.outcome else []
    where += [WebhookEvent.sku == flt.sku] if flt.sku else []
    where += [WebhookEvent.received_at >= flt.since] if flt.since else []
    where += [WebhookEvent.received_at < flt.until] if flt.until else []
    return where
