import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Response, status

from app.api.deps import Ctx, Session
from app.api.pagination import Limit, Offset, Page
from app.api.responses import errors
from app.connections import budget, service
from app.connections.adapters import target_policy
from app.connections.budget import BudgetRead
from app.connections.checks import ConnectionTestRead, run_checks
from app.connections.schemas import ConnectionCreate, ConnectionRead, ConnectionUpdate
from app.models import RunMode
from app.syncs import service as syncs
from app.syncs.drift import DriftRead, latest_drift
from app.syncs.schemas import RunRead, SyncStart
from app.webhooks import setup as webhook_setup

RunKind = Literal["manual", "scheduled", "webhook", "catchup", "retry"]

router = APIRouter(prefix="/connections", tags=["connections"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConnectionRead)
async def create_connection(body: ConnectionCreate, session: Session, ctx: Ctx) -> ConnectionRead:
    connection = await service.create_connection(session, body, keyring=ctx.keyring, targets=target_policy(ctx))
    return service.to_read(connection, keyring=ctx.keyring)


@router.get("", response_model=list[ConnectionRead], responses=errors(409))
async def list_connections(session: Session, ctx: Ctx) -> list[ConnectionRead]:
    return [service.to_read(c, keyring=ctx.keyring) for c in await service.list_connections(session)]


@router.get("/{connection_id}", response_model=ConnectionRead, responses=errors(404, 409))
async def read_connection(connection_id: uuid.UUID, session: Session, ctx: Ctx) -> ConnectionRead:
    return service.to_read(await service.get_connection(session, connection_id), keyring=ctx.keyring)


@router.patch("/{connection_id}", response_model=ConnectionRead, responses=errors(404, 409))
async def update_connection(connection_id: uuid.UUID, body: ConnectionUpdate, session: Session,
                            ctx: Ctx) -> ConnectionRead:
    connection = await service.get_connection(session, connection_id)
    connection = await service.update_connection(session, connection, body, keyring=ctx.keyring,
                                                 targets=target_policy(ctx))
    return service.to_read(connection, keyring=ctx.keyring)


@router.delete("/{connection_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409, 502))
async def delete_connection(connection_id: uuid.UUID, ctx: Ctx) -> Response:
    """Remove the connection (its runs and links too); its Zoho webhook and workflow are
    deleted first when Zoho lets us, so Zoho stops calling a dead address. The Zoho calls
    happen with no transaction open (see app/webhooks/setup.py)."""
    await webhook_setup.delete_with_webhook(ctx, connection_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{connection_id}/syncs", status_code=status.HTTP_202_ACCEPTED, response_model=RunRead,
             responses=errors(404, 409, 422))
async def start_sync(connection_id: uuid.UUID, session: Session, ctx: Ctx,
                     body: Annotated[SyncStart | None, Body()] = None) -> RunRead:
    """Queue a whole-catalogue run. No body, or `{"mode": "standard"}`: items unchanged in Zoho
    (by content hash) are left alone. `{"mode": "verify"}`: the store's records are read and
    compared field by field, and what differs is repaired (README, "Verify runs"). 409 when the
    connection is not linked yet or Zoho needs reconnecting, or a full run is already active."""
    mode = body.mode if body is not None else RunMode.STANDARD
    run = await syncs.start_sync(session, await service.get_connection(session, connection_id),
                                 keyring=ctx.keyring, mode=mode)
    return (await syncs.run_views(session, [run]))[0]


@router.get("/{connection_id}/drift", response_model=DriftRead, responses=errors(404))
async def read_drift(connection_id: uuid.UUID, session: Session) -> DriftRead:
    """What the latest verify run found: store records compared, fields repaired by name,
    objects created again, and the store's products whose SKU Zoho does not know (orphans,
    listed, never deleted). 404 until the connection has had a verify run."""
    await service.get_connection(session, connection_id)
    return await latest_drift(session, connection_id)


@router.get("/{connection_id}/budget", response_model=BudgetRead, responses=errors(404))
async def read_budget(connection_id: uuid.UUID, session: Session, ctx: Ctx) -> BudgetRead:
    """Zoho calls in the current minute window and today against the limits (counted per Zoho
    organization: every connection on it shares them), and the store's error rate over the last
    hour (failed product writes / product writes). What is counted where: app/connections/budget.py."""
    return await budget.read_budget(session, ctx, await service.get_connection(session, connection_id))


@router.get("/{connection_id}/syncs", response_model=Page[RunRead], responses=errors(404))
async def list_syncs(connection_id: uuid.UUID, session: Session, kind: RunKind | None = None, limit: Limit = 50,
                     offset: Offset = 0) -> Page[RunRead]:
    """Runs newest first: manual syncs, scheduled syncs (`scheduled`, started by the connection's
    schedule), webhook events (`webhook`) and catch-ups (`catchup`)."""
    await service.get_connection(session, connection_id)
    total, runs = await syncs.list_runs(session, connection_id, kind=kind, limit=limit, offset=offset)
    return Page(items=await syncs.run_views(session, runs), total=total, limit=limit, offset=offset)


@router.post("/{connection_id}/test", response_model=ConnectionTestRead, responses=errors(404, 409))
async def run_connection_test(connection_id: uuid.UUID, ctx: Ctx) -> ConnectionTestRead:
    """Test connection: Zoho (token, organization, the calls a sync makes) and the store (read,
    write permission, media uploads), each with a verdict (`passed`, `failed`, `skipped`), what
    it saw and a hint. Read-only: nothing changes in Zoho, in the store or here. Always 200 once
    the checks ran; `ok` is true when every check passed."""
    return await run_checks(ctx, connection_id)
