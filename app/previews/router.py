import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from app.api.deps import Session
from app.api.pagination import Limit, Offset
from app.api.params import Text
from app.api.responses import errors
from app.connections.service import get_connection
from app.models import Preview
from app.previews.service import get_preview, preview_items
from app.previews.service import start_preview as start_preview_of

router = APIRouter(tags=["previews"])


class FieldChange(BaseModel):
    field: str
    store: Any
    zoho: Any


class PreviewItem(BaseModel):
    sku: str | None
    zoho_item_id: str | None  # a variable product's is its item group's; none when no group stands for it
    kind: str
    name: str | None
    action: str
    reason: str | None
    store_id: int | None
    group: str | None = None  # the item group a variable product is, or a variation is written under
    parent_store_id: int | None = None  # a variation's variable product when no item group stands for it
    changes: list[FieldChange]


class PreviewRead(BaseModel):
    id: uuid.UUID
    connection_id: uuid.UUID
    status: Literal["queued", "running", "completed", "failed"]
    reason: str | None
    summary: dict[str, int] | None
    created_at: datetime
    finished_at: datetime | None
    total: int = 0
    limit: int = 0
    offset: int = 0
    items: list[PreviewItem] = []


@router.post("/connections/{connection_id}/preview", response_model=PreviewRead,
             status_code=status.HTTP_202_ACCEPTED, responses=errors(404))
async def start_preview(connection_id: uuid.UUID, session: Session) -> PreviewRead:
    """What a sync would do now: per SKU the action (create, update, unchanged, skip with the
    reason) and, for creates and updates, each field with the store's value and Zoho's. Runs as
    a job; read the result with `GET /previews/{id}`."""
    preview = await start_preview_of(session, await get_connection(session, connection_id))
    return _view(preview, None, 0, 0)


@router.get("/previews/{preview_id}", response_model=PreviewRead, responses=errors(404))
async def read_preview(preview_id: uuid.UUID, session: Session,
                       action: Annotated[Text | None, Query(max_length=32)] = None,
                       sku: Annotated[Text | None, Query(max_length=200)] = None,
                       limit: Limit = 100, offset: Offset = 0) -> PreviewRead:
    """One preview; `items` pages through its result (filter by `action` or `sku`)."""
    return _view(await get_preview(session, preview_id), {"action": action, "sku": sku}, limit, offset)


def _view(preview: Preview, filters: dict[str, str | None] | None, limit: int, offset: int) -> PreviewRead:
    rows = preview_items(preview, filters or {})
    return PreviewRead(id=preview.id, connection_id=preview.connection_id, status=preview.status,
                       reason=preview.reason, summary=preview.summary, created_at=preview.created_at,
                       finished_at=preview.finished_at, total=len(rows), limit=limit, offset=offset,
                       items=[PreviewItem(**r) for r in rows[offset : offset + limit]])
