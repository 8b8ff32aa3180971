import uuid
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.routing import Route

from app.api.deps import Ctx, Session
from app.api.failures import RETRY_AFTER_S
from app.api.pagination import Limit, Offset, Page
from app.api.params import Text, Timestamp
from app.api.responses import errors
from app.connections.service import get_connection
from app.core.errors import NotFound, SkubridgeError
from app.models import EventOutcome
from app.webhooks import setup
from app.webhooks.events import EventFilter, search_events
from app.webhooks.intake import Intake, receive
from app.webhooks.rejections import Reason
from app.webhooks.schemas import WebhookEnable, WebhookEventRead, WebhookRead, WebhookToggle

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/connections/{connection_id}/webhook", tags=["webhooks"])


@router.get("", response_model=WebhookRead, responses=errors(404, 409))
async def read_webhook(connection_id: uuid.UUID, session: Session, ctx: Ctx) -> WebhookRead:
    return await setup.read(session, ctx, await get_connection(session, connection_id))


@router.put("", response_model=WebhookRead, responses=errors(404, 409, 502))
async def enable_webhook(connection_id: uuid.UUID, body: WebhookEnable, session: Session, ctx: Ctx) -> WebhookRead:
    """`{"enabled": true}` creates the Zoho webhook and workflow; `false` deletes both. The
    request's session is first used after Zoho answered: no transaction waits on Zoho."""
    await (setup.enable if body.enabled else setup.disable)(ctx, connection_id)
    return await setup.read(session, ctx, await get_connection(session, connection_id))


@router.patch("", response_model=WebhookRead, responses=errors(404, 409, 502))
async def toggle_webhook(connection_id: uuid.UUID, body: WebhookToggle, session: Session, ctx: Ctx) -> WebhookRead:
    """`{"active": false}` pauses real-time sync (events are acknowledged and ignored)."""
    await setup.set_active(ctx, connection_id, body.active)
    return await setup.read(session, ctx, await get_connection(session, connection_id))


@router.get("/events", response_model=Page[WebhookEventRead], responses=errors(404))
async def list_events(
    connection_id: uuid.UUID, session: Session,
    outcome: EventOutcome | None = None,
    sku: Annotated[Text | None, Query(max_length=200)] = None,
    from_: Annotated[Timestamp | None, Query(alias="from")] = None,
    to: Timestamp | None = None,
    limit: Limit = 100, offset: Offset = 0,
) -> Page[WebhookEventRead]:
    """The webhook event log, newest first (what it holds: app/webhooks/events.py)."""
    await get_connection(session, connection_id)
    flt = EventFilter(connection_id=connection_id, outcome=outcome, sku=sku, since=from_, until=to)
    total, rows = await search_events(session, flt, limit=limit, offset=offset)
    return Page(items=[WebhookEventRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


async def zoho_webhook(request: Request) -> JSONResponse:
    """Zoho's webhook intake: signed with the connection's secret, not the API token.

    A plain Starlette route, ahead of the API's routers and without FastAPI's dependency
    machinery: at a thousand deliveries a second that overhead is most of the cost.
    """
    state = request.app.state
    if not hasattr(state, "webhook_intake"):
        state.webhook_intake = Intake.create(state.ctx)
    try:
        connection_id = uuid.UUID(request.path_params["connection_id"])
    except ValueError:
        return _refusal(state.webhook_intake.rejections.refuse(None, Reason.UNKNOWN_CONNECTION,
                                                                NotFound("no such connection")))
    try:
        accepted = await receive(state.ctx, state.webhook_intake, connection_id, request)
    except SkubridgeError as exc:
        return _refusal(exc)
    except Exception:  # noqa: BLE001 - Postgres or Redis down: say so, Zoho delivers again
        log.exception("webhook.intake_failed", connection_id=str(connection_id))
        return JSONResponse({"error": "ServiceUnavailable",
                             "detail": "the event could not be recorded; deliver it again later"}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})
    return JSONResponse({"event_id": accepted.event_id, "outcome": accepted.outcome}, status_code=202)


def _refusal(exc: SkubridgeError) -> JSONResponse:
    return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


INTAKE_ROUTE = Route("/webhooks/zoho/{connection_id}", zoho_webhook, methods=["POST"])
