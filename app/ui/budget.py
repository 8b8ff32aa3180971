"""The console's API budget page: the connection's Zoho calls in the current minute window and
today as meters against the limits, and the store's error rate over the last hour; the same
figures as `GET /api/v1/connections/{id}/budget` (app/connections/budget.py says what each one
counts). With no daily limit configured, today's meter measures against the limit Zoho last
stated for the organization, and with neither there is a count and no meter."""

from __future__ import annotations

import uuid

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from app.api.deps import Ctx, Session
from app.connections.budget import read_budget
from app.connections.service import get_connection
from app.ui.common import Signed, console_router, templates

# The store's error rate meter turns amber above LOW and red above HIGH (shares of writes).
ERROR_RATE_LOW, ERROR_RATE_HIGH = 0.02, 0.10
router = console_router()


@router.get("/connections/{connection_id}/budget", response_class=HTMLResponse)
async def budget_page(request: Request, connection_id: uuid.UUID, session: Signed, db: Session, ctx: Ctx) -> Response:
    connection = await get_connection(db, connection_id)
    budget = await read_budget(db, ctx, connection)
    today = budget.zoho.today
    return templates.TemplateResponse(request, "budget.html", {
        "session": session, "connection": connection, "budget": budget,
        "day_limit": today.limit or today.zoho_stated_limit, "low": ERROR_RATE_LOW, "high": ERROR_RATE_HIGH})
