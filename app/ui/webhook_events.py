"""The console's webhook event log: a connection's webhook events of the retention period
(RETENTION_DAYS, 30 by default), newest first, a page at a time, filtered by outcome or SKU.
The query is `GET .../webhook/events`' (app/webhooks/events.py, which also says what the log
holds and what never reaches it).

The "Event" column: Zoho's delivery does not say what happened to the item. The service sets up
one workflow rule that fires when an item is created or edited (app/integrations/zoho/automation.py)
and Zoho posts the item itself, so every item event reads "Item created or edited"; a signed body
that is not an item (recorded as `rejected`) reads "Not an item".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from app.api.deps import Ctx, Session
from app.api.pagination import Offset
from app.connections.service import get_connection
from app.models import EventOutcome, WebhookEvent
from app.ui.common import Signed, console_router, templates
from app.ui.views import filter_text_problem, paging
from app.webhooks.events import EventFilter, search_events

EVENT_PAGE_SIZE = 50
EVENT_FIELDS = ("outcome", "sku")
# The outcomes in the filter's order, with what each means (app/models/webhook_event.py).
OUTCOMES: dict[str, str] = {
    EventOutcome.QUEUED: "Queued: its sync has not run yet",
    EventOutcome.SYNCED: "Synced: the store was written",
    EventOutcome.UNCHANGED: "Unchanged: the store already held it",
    EventOutcome.SKIPPED: "Skipped: not syncable",
    EventOutcome.FAILED: "Failed: Zoho or the store refused",
    EventOutcome.NOT_FOUND: "Not found in Zoho",
    EventOutcome.IGNORED: "Ignored: the webhook was inactive",
    EventOutcome.REJECTED: "Rejected: not an item",
}
router = console_router()


@router.get("/connections/{connection_id}/webhooks", response_class=HTMLResponse)
async def webhook_events_page(request: Request, connection_id: uuid.UUID, session: Signed, db: Session, ctx: Ctx,
                              offset: Offset = 0) -> Response:
    """The connection's webhook events since `ctx.clock()` minus the retention period; a bad
    filter answers 400 with the error at its field and the form still filled in."""
    connection = await get_connection(db, connection_id)
    values = {name: request.query_params.get(name, "").strip() for name in EVENT_FIELDS}
    errors = event_filter_errors(values)
    since = ctx.clock() - timedelta(days=ctx.settings.retention_days)
    flt = EventFilter(connection_id=connection_id, outcome=values["outcome"] or None, sku=values["sku"] or None,
                      since=since)
    total, rows = (0, []) if errors else await search_events(db, flt, limit=EVENT_PAGE_SIZE, offset=offset)
    return templates.TemplateResponse(request, "webhook_events.html", {
        "session": session, "connection": connection, "rows": [event_row(e) for e in rows], "values": values,
        "errors": errors, "outcomes": OUTCOMES, "since": since, "days": ctx.settings.retention_days,
        **paging(values, offset=offset, size=EVENT_PAGE_SIZE, total=total, last=offset + len(rows)),
    }, status_code=400 if errors else 200)


def event_filter_errors(values: Mapping[str, str]) -> dict[str, str]:
    """The filter's errors by field: an outcome the model does not define, a SKU Postgres
    cannot hold or longer than a SKU may be."""
    errors: dict[str, str] = {}
    if values["outcome"] and values["outcome"] not in OUTCOMES:
        errors["outcome"] = f"one of {', '.join(OUTCOMES)}"
    if problem := filter_text_problem(values["sku"]):
        errors["sku"] = problem
    return errors


def event_row(event: WebhookEvent) -> dict[str, object]:
    return {"received_at": event.received_at, "item": event.zoho_item_id, "sku": event.sku,
            "event": "Item created or edited" if event.zoho_item_id else "Not an item",
            "outcome": event.outcome, "reason": event.detail or ""}
