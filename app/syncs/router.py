import uuid

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import Ctx, Session
from app.api.pagination import Limit, Offset, Page
from app.api.responses import errors
from app.models import ItemStatus, RunStatus, SyncRun
from app.syncs import retry, service
from app.syncs.schemas import RunItemRead, RunRead

router = APIRouter(prefix="/syncs", tags=["syncs"])


@router.get("/{run_id}", response_model=RunRead, responses=errors(404))
async def read_sync(run_id: uuid.UUID, session: Session) -> RunRead:
    return (await service.run_views(session, [await service.get_run(session, run_id)]))[0]


@router.get("/{run_id}/items", response_model=Page[RunItemRead], responses=errors(404))
async def list_sync_items(run_id: uuid.UUID, session: Session, status: ItemStatus | None = None,
                          limit: Limit = 100, offset: Offset = 0) -> Page[RunItemRead]:
    await service.get_run(session, run_id)
    total, items = await service.list_items(session, run_id, status=status, limit=limit, offset=offset)
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("/{run_id}/retry-failed", response_model=RunRead, status_code=202, responses=errors(404, 409))
async def retry_failed(run_id: uuid.UUID, session: Session) -> RunRead:
    """Queue a new run (kind `retry`) of this run's failed items, planned again from Zoho's
    current records rather than replayed. 409, saying why, while this run is still active, when
    it has no failed items, or when the connection has an active sync (a retry of these items
    included: a double click starts one retry)."""
    return (await service.run_views(session, [await retry.start_retry(session, run_id)]))[0]


# 202 while the run is `pausing` / `cancelling` (a batch in flight is still being recorded).
_CONTROL_RESPONSES = {202: {"model": RunRead, "description": "accepted: the batch in flight is being recorded"},
                      **errors(404, 409)}


@router.post("/{run_id}/pause", response_model=RunRead, responses=_CONTROL_RESPONSES)
async def pause_sync(run_id: uuid.UUID, session: Session, ctx: Ctx, response: Response) -> RunRead:
    run = await service.pause_run(session, run_id, lease_seconds=ctx.settings.lease_seconds)
    return await _control_answer(session, run, response)


@router.post("/{run_id}/resume", response_model=RunRead, responses=_CONTROL_RESPONSES)
async def resume_sync(run_id: uuid.UUID, session: Session, response: Response) -> RunRead:
    return await _control_answer(session, await service.resume_run(session, run_id), response)


@router.post("/{run_id}/cancel", response_model=RunRead, responses=_CONTROL_RESPONSES)
async def cancel_sync(run_id: uuid.UUID, session: Session, ctx: Ctx, response: Response) -> RunRead:
    run = await service.cancel_run(session, run_id, lease_seconds=ctx.settings.lease_seconds)
    return await _control_answer(session, run, response)


async def _control_answer(session: AsyncSession, run: SyncRun, response: Response) -> RunRead:
    view = (await service.run_views(session, [run]))[0]
    if view.status in (RunStatus.PAUSING, RunStatus.CANCELLING):
        response.status_code = 202
    return view
