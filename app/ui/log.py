"""The console's sync log page: the filters of `GET /api/v1/logs`, paging, and Export CSV."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from app.api.deps import Session
from app.api.pagination import Offset
from app.connections.service import get_connection
from app.core.errors import BadRequest
from app.logs.export import csv_response
from app.logs.service import search_logs
from app.ui.common import Signed, console_router, templates
from app.ui.views import LOG_FIELDS, LOG_LEVELS, log_filter, paging

LOG_PAGE_SIZE = 50
# Export CSV takes every row the filters match, up to this many (newest first): enough for a
# support ticket, bounded so one click cannot stream the whole table.
CSV_EXPORT_LIMIT = 10_000
router = console_router()


@router.get("/connections/{connection_id}/log", response_class=HTMLResponse)
async def log_page(request: Request, connection_id: uuid.UUID, session: Signed, db: Session,
                   offset: Offset = 0) -> Response:
    """The connection's sync log, newest first, filtered as `GET /api/v1/logs` filters, a page
    of LOG_PAGE_SIZE rows at a time; a bad filter answers 400 with the error at its field."""
    connection = await get_connection(db, connection_id)
    flt, errors = log_filter(connection_id, request.query_params)
    total, rows = (0, []) if errors else await search_logs(db, flt, limit=LOG_PAGE_SIZE, offset=offset)
    values = {name: request.query_params.get(name, "") for name in LOG_FIELDS}
    query = urlencode({k: v for k, v in values.items() if v})
    return templates.TemplateResponse(request, "log.html", {
        "session": session, "connection": connection, "rows": rows, "values": values, "errors": errors,
        "levels": LOG_LEVELS, "csv": f"log.csv?{query}" if query else "log.csv",
        **paging(values, offset=offset, size=LOG_PAGE_SIZE, total=total, last=offset + len(rows))},
        status_code=400 if errors else 200)


@router.get("/connections/{connection_id}/log.csv")
async def log_csv(request: Request, connection_id: uuid.UUID, _: Signed, db: Session) -> Response:
    """Export CSV: every row the page's filters match (up to CSV_EXPORT_LIMIT), in the API's
    CSV shape (app/logs/export.py)."""
    await get_connection(db, connection_id)
    flt, errors = log_filter(connection_id, request.query_params)
    if errors:
        field, detail = next(iter(errors.items()))
        raise BadRequest(f"{field}: {detail}")
    rows = (await search_logs(db, flt, limit=CSV_EXPORT_LIMIT, offset=0))[1]
    return csv_response(rows)


