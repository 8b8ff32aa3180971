"""The retention period: webhook events, log entries and previews older than it are dropped."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete

from app.core.context import AppContext
from app.db.session import transaction
from app.logs.service import purge_logs
from app.models import Preview, WebhookEvent


async def purge_old_records(ctx: AppContext) -> tuple[int, int]:
    """Drop webhook events, log entries and previews older than the retention period."""
    cutoff = datetime.now().astimezone() - timedelta(days=ctx.settings.retention_days)
    async with transaction(ctx.sessionmaker) as session:
        old_events = delete(WebhookEvent).where(WebhookEvent.received_at < cutoff)
        events = cast(CursorResult[Any], await session.execute(old_events))
        logs = await purge_logs(session, older_than=cutoff)
        await session.execute(delete(Preview).where(Preview.created_at < cutoff))
    return events.rowcount or 0, logs
