import uuid

from fastapi import APIRouter

from app.api.deps import Session
from app.api.pagination import Limit, Offset, Page
from app.models import ItemStatus
from app.syncs import service
from app.syncs.schemas import RunItemRead, RunRead

router = APIRouter(prefix="/syncs", tags=["syncs"])


@router.get("/{run_id}", response_model=RunRead)
async def read_sync(run_id: uuid.UUID, session: Session) -> RunRead:
    return (await service.run_views(session, [await service.get_run(session, run_id)]))[0]


@router.get("/{run_id}/items", response_model=Page[RunItemRead])
async def list_sync_items(run_id: uuid.UUID, session: Session, status: ItemStatus | None = None,
                          limit: Limit = 100, offset: Offset = 0) -> Page[RunItemRead]:
    await service.get_run(session, run_id)
    total, items = await service.list_items(session, run_id, status=status, limit=limit, offset=offset)
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("/{run_id}/pause", response_model=RunRead)
async def pause_sync(run_id: uuid.UUID, session: Session) -> RunRead:
    return (await service.run_views(session, [await service.pause_run(session, run_id)]))[0]


@router.post("/{run_id}/resume", response_model=RunRead)
async def resume_sync(run_id: uuid.UUID, session: Session) -> RunRead:
    return (await service.run_views(session, [await service.resume_run(session, run_id)]))[0]


@router.post("/{run_id}/cancel", response_model=RunRead)
async def cancel_sync(run_id: uuid.UUID, session: Session) -> RunRead:
    return (await service.run_views(session, [await service.cancel_run(session, run_id)]))[0]
