"""A connection's API budget: its Zoho calls in the current minute window and today against the
limits, and the store's recent error rate. Read only; nothing here counts or stores anything.

What the Zoho figures count (app/integrations/zoho/ratelimit.py, in Redis): every request the
service sends to Zoho Inventory's API, each retry included, counted before it is sent; not token
refreshes (they go to Zoho's accounts server). They are kept per Zoho **organization**, not per
connection: every connection on one organization draws from the same budget, as Zoho counts it
(and so do other apps on that organization, which the service cannot see). The minute is a
moving window of `window_seconds` (61: a second of margin over Zoho's 60); the day turns at
midnight UTC, a guess explained at `ratelimit.budget_day`.

The store's error rate: of the product writes (creates and updates of products, variable
products and variations) whose outcome was recorded in the last hour, the share that failed,
read from the sync log (the batch writer logs every write's outcome there, in every kind of
run). A store that is down is not in it: no write is attempted, the run pauses with the reason
on its status page.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.adapters import shared_budget
from app.core.context import AppContext
from app.models import Connection, SyncLog

STORE_ERROR_WINDOW = timedelta(hours=1)
_WRITE_ACTIONS = ("create", "update")
_WRITE_OUTCOMES = ("synced", "failed")


class ZohoMinute(BaseModel):
    used: int  # calls in the moving window that ends now
    limit: int  # ZOHO_REQUESTS_PER_MINUTE
    window_seconds: int


class ZohoDay(BaseModel):
    date: date  # the budget day (UTC) now falls in
    used: int
    limit: int | None  # ZOHO_DAILY_LIMIT; null when no daily limit is configured
    zoho_stated_limit: int | None  # the daily limit Zoho last stated when it refused a call (code 45)
    resets_at: datetime  # when `used` starts again from 0


class ZohoBudgetRead(BaseModel):
    organization_id: str
    connections_sharing: int  # connections on this organization (this one included): one budget
    blocked_for_seconds: float  # Zoho answered 429: no call of the organization goes out until then
    minute: ZohoMinute
    today: ZohoDay


class StoreErrorsRead(BaseModel):
    since: datetime
    window_minutes: int
    writes: int  # product writes whose outcome was recorded in the window
    failed: int
    error_rate: float | None  # failed / writes, 0 to 1; null when there were no writes


class BudgetRead(BaseModel):
    connection_id: uuid.UUID
    as_of: datetime
    zoho: ZohoBudgetRead
    store: StoreErrorsRead


async def read_budget(session: AsyncSession, ctx: AppContext, connection: Connection) -> BudgetRead:
    """The connection's budget as of `ctx.clock()`."""
    now = ctx.clock()
    use = await shared_budget(ctx).use(connection.zoho_organization_id)
    sharing = await session.scalar(select(func.count()).select_from(Connection).where(
        Connection.zoho_organization_id == connection.zoho_organization_id))
    zoho = ZohoBudgetRead(
        organization_id=connection.zoho_organization_id, connections_sharing=int(sharing or 0),
        blocked_for_seconds=round(use.blocked_for, 3),
        minute=ZohoMinute(used=use.minute_used, limit=use.minute_limit, window_seconds=use.window_seconds),
        today=ZohoDay(date=use.day, used=use.day_used, limit=use.day_limit, zoho_stated_limit=use.day_limit_stated,
                      resets_at=use.day_resets_at))
    return BudgetRead(connection_id=connection.id, as_of=now, zoho=zoho,
                      store=await store_errors(session, connection.id, now=now))


async def store_errors(session: AsyncSession, connection_id: uuid.UUID, *, now: datetime) -> StoreErrorsRead:
    """Product writes recorded in the hour up to `now`, and how many of them failed."""
    since = now - STORE_ERROR_WINDOW
    failed = func.count().filter(SyncLog.status == "failed")
    writes, failures = (await session.execute(
        select(func.count(), failed).where(
            SyncLog.connection_id == connection_id, SyncLog.action.in_(_WRITE_ACTIONS),
            SyncLog.status.in_(_WRITE_OUTCOMES), SyncLog.created_at >= since, SyncLog.created_at <= now))).one()
    return StoreErrorsRead(since=since, window_minutes=int(STORE_ERROR_WINDOW.total_seconds() // 60),
                           writes=writes, failed=failures, error_rate=round(failures / writes, 4) if writes else None)
