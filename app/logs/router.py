import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.api.deps import Session
from app.api.pagination import Limit, Offset, Page
from app.api.params import Text, Timestamp
from app.logs.export import csv_response
from app.logs.schemas import LogRead
from app.logs.service import LogFilter, search_logs

router = APIRouter(prefix="/logs", tags=["logs"])


@router.get("", response_model=Page[LogRead], responses={200: {
    "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}},
    "description": "A page of the log; `format=csv` answers it as CSV"}})
async def list_logs(
    session: Session,
    connection_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    sku: Annotated[Text | None, Query(max_length=200)] = None,
    level: Literal["debug", "info", "warning", "error"] | None = None,
    action: Annotated[Text | None, Query(max_length=32)] = None,
    status: Annotated[Text | None, Query(max_length=16)] = None,
    from_: Annotated[Timestamp | None,
                     Query(alias="from", description="Inclusive, ISO 8601 (UTC when no offset)")] = None,
    to: Annotated[Timestamp | None, Query(description="Exclusive, ISO 8601 (UTC when no offset)")] = None,
    q: Annotated[Text | None, Query(max_length=200, description="Free text: message, SKU, item id, action")] = None,
    format: Literal["json", "csv"] = "json",
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[LogRead] | Response:
    """The sync log, newest first. `format=csv` exports the same page as CSV."""
    flt = LogFilter(connection_id=connection_id, run_id=run_id, sku=sku, level=level, action=action, status=status,
                    since=from_, until=to, q=q)
    total, rows = await search_logs(session, flt, limit=limit, offset=offset)
    if format == "csv":
        return csv_response(rows)
    return Page(items=[LogRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)

