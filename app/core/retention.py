"""The retention period: webhook events, log entries and previews older than it are dropped."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete

from app.core.context import AppContext
from app.db.session import rows_touched, transaction
from app.logs.service import purge_logs
from app.models import Preview, WebhookEvent


async def purge_old_records(ctx: AppContext) -> tuple[int, int]:
    """Drop webhook events, log entries and previews older than the retention period."""
    cutoff = datetime.now().astimezone() - timedelta(days=ctx.settings.retention_days)
    async with transaction(ctx.sessionmaker) as session:
        old_events = delete(WebhookEvent).where(WebhookEvent.received_at < cutoff)
        events = rows_touched(await session.execute(old_events))
        logs = await purge_logs(session, older_than=cutoff)
        await session.execute(delete(Preview).where(Preview.created_at < cutoff))
    return events, logs
