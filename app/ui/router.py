"""The console's routes: sign-in, the connections page, a connection's status page, its
controls and its live feed. Every route is left out of the OpenAPI document (it is the REST
API's contract, not the console's).

The controls call the same services as the REST API (app/syncs/service.py) in one request
transaction, then answer 303 back to the status page (post/redirect/get), with the service's
refusal, if any, shown on it. They act on the connection's newest full run: the one its status
page shows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import Ctx, Session
from app.api.pagination import Offset
from app.connections.service import get_connection, list_connections
from app.core.context import AppContext
from app.core.errors import BadRequest, Conflict, SkubridgeError
from app.logs.export import csv_response
from app.logs.service import search_logs
from app.models import RunMode
from app.syncs import service as syncs
from app.ui import session as auth
from app.ui.views import LOG_FIELDS, LOG_LEVELS, log_filter, run_snapshot, webhook_state
from app.webhooks import setup as webhook_setup

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
# The live feed reads the database once a second at most: "at most a second behind" for the
# operator, one small query per open page for the database.
POLL_INTERVAL_S = 1.0
LOG_PAGE_SIZE = 50
# Export CSV takes every row the filters match, up to this many (newest first): enough for a
# support ticket, bounded so one click cannot stream the whole table.
CSV_EXPORT_LIMIT = 10_000


class SignedOut(Exception):
    """No valid session: pages redirect to the sign-in page."""


class CsrfRefused(Exception):
    """A state-changing form without this session's CSRF token."""


async def signed_in(request: Request, ctx: Ctx) -> auth.ConsoleSession:
    session = auth.read_session(request, ctx.settings)
    if session is None:
        raise SignedOut
    return session


Signed = Annotated[auth.ConsoleSession, Depends(signed_in)]


async def checked_form(request: Request, session: Signed) -> dict[str, Any]:
    """The posted form, once its CSRF token matches the session's."""
    form = dict(await request.form())
    if not auth.csrf_ok(session, form.get("csrf")):
        raise CsrfRefused
    return form


Form = Annotated[dict[str, Any], Depends(checked_form)]
router = APIRouter(prefix="/ui", include_in_schema=False)


def install_console(app: FastAPI) -> None:
    """Mount the console: its routes, its static files, and its two refusals as pages."""
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")

    @app.exception_handler(SignedOut)
    async def to_login(request: Request, _: SignedOut) -> Response:
        return RedirectResponse("/ui/login", status_code=303)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _: CsrfRefused) -> Response:
        return templates.TemplateResponse(request, "refused.html", {"session": None}, status_code=403)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, ctx: Ctx) -> Response:
    if auth.read_session(request, ctx.settings):
        return RedirectResponse("/ui/", status_code=303)
    return templates.TemplateResponse(request, "login.html", {"session": None, "error": None})


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, ctx: Ctx) -> Response:
    address = request.client.host if request.client else "unknown"
    wait = await auth.signin_wait(ctx.redis, address)
    if wait:
        error = f"Too many wrong tokens from this address: try again in {wait} s."
        return templates.TemplateResponse(request, "login.html", {"session": None, "error": error},
                                          status_code=429, headers={"Retry-After": str(wait)})
    token = (await request.form()).get("token")
    if not isinstance(token, str) or not auth.token_matches(ctx.settings, token):
        await auth.record_failed_signin(ctx.redis, address)
        return templates.TemplateResponse(request, "login.html", {"session": None, "error": "That token is not valid."},
                                          status_code=401)
    response = RedirectResponse("/ui/", status_code=303)
    auth.open_session(response, request, ctx.settings)
    return response


@router.post("/logout")
async def logout(request: Request, ctx: Ctx, _: Form) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    auth.close_session(response, request, ctx.settings)
    return response


@router.get("/", response_class=HTMLResponse)
async def connections_page(request: Request, session: Signed, db: Session) -> Response:
    connections = await list_connections(db)
    latest = await syncs.latest_full_runs(db, [c.id for c in connections])
    views = {v.connection_id: v for v in await syncs.run_views(db, list(latest.values()))}
    rows = [{"connection": c, "run": views.get(c.id), "webhook": webhook_state(c.webhook_enabled, c.webhook_active)}
            for c in connections]
    return templates.TemplateResponse(request, "connections.html", {"session": session, "rows": rows})


@router.get("/connections/{connection_id}", response_class=HTMLResponse)
async def status_page(request: Request, connection_id: uuid.UUID, session: Signed, db: Session, ctx: Ctx,
                      notice: str | None = None) -> Response:
    connection = await get_connection(db, connection_id)
    snapshot = await _snapshot(db, connection_id)
    hook = await webhook_setup.read(db, ctx, connection)
    return templates.TemplateResponse(request, "status.html", {
        "session": session, "connection": connection, "run": snapshot, "notice": notice, "hook": hook,
        "webhook": webhook_state(connection.webhook_enabled, connection.webhook_active)})


@router.post("/connections/{connection_id}/webhook/{verb}")
async def webhook_control(connection_id: uuid.UUID, verb: str, form: Form, db: Session, ctx: Ctx) -> Response:
    """The webhook panel: "switch" flips the active flag (the form says which way, so a double
    click cannot flip it back), "enable"/"disable" create or delete it in Zoho. The same
    set-up functions as the REST API's PUT and PATCH, with Zoho's refusals shown on the page."""
    actions = {"switch": lambda: webhook_setup.set_active(ctx, connection_id, form.get("active") == "true"),
               "enable": lambda: webhook_setup.enable(ctx, connection_id),
               "disable": lambda: webhook_setup.disable(ctx, connection_id)}
    if verb not in actions:
        return Response(status_code=404)
    await get_connection(db, connection_id)
    return await _control(db, connection_id, actions[verb])


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

    def page_link(at: int) -> str:
        return f"?{urlencode({**{k: v for k, v in values.items() if v}, 'offset': at})}"

    return templates.TemplateResponse(request, "log.html", {
        "session": session, "connection": connection, "rows": rows, "total": total, "offset": offset,
        "values": values, "errors": errors, "levels": LOG_LEVELS, "csv": f"log.csv?{query}" if query else "log.csv",
        "previous": page_link(max(offset - LOG_PAGE_SIZE, 0)) if offset > 0 else None,
        "next": page_link(offset + LOG_PAGE_SIZE) if offset + LOG_PAGE_SIZE < total else None,
        "shown": (offset + 1, offset + len(rows))}, status_code=400 if errors else 200)


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


@router.post("/connections/{connection_id}/syncs")
async def start(connection_id: uuid.UUID, form: Form, db: Session) -> Response:
    mode = RunMode.VERIFY if form.get("mode") == RunMode.VERIFY else RunMode.STANDARD
    return await _control(db, connection_id, lambda: _start(db, connection_id, mode))


@router.post("/connections/{connection_id}/{verb}")
async def control(connection_id: uuid.UUID, verb: str, form: Form, db: Session, ctx: Ctx) -> Response:
    lease = ctx.settings.lease_seconds
    actions = {"pause": lambda run_id: syncs.pause_run(db, run_id, lease_seconds=lease),
               "resume": lambda run_id: syncs.resume_run(db, run_id),
               "cancel": lambda run_id: syncs.cancel_run(db, run_id, lease_seconds=lease)}
    if verb not in actions:
        return Response(status_code=404)

    async def act() -> None:
        latest = (await syncs.latest_full_runs(db, [connection_id])).get(connection_id)
        if latest is None:
            raise Conflict(f"this connection has no sync to {verb}")
        await actions[verb](latest.id)

    return await _control(db, connection_id, act)


async def _start(db: AsyncSession, connection_id: uuid.UUID, mode: RunMode) -> None:
    await syncs.start_sync(db, await get_connection(db, connection_id), mode=mode)


async def _control(db: AsyncSession, connection_id: uuid.UUID, act: Callable[[], Awaitable[None]]) -> Response:
    """Run a control; a refusal (409: already active, not pausable, ...) is shown on the page.
    A refusal raised inside the request transaction must not commit: it is rolled back here."""
    target = f"/ui/connections/{connection_id}"
    try:
        await act()
    except SkubridgeError as exc:
        await db.rollback()
        return RedirectResponse(f"{target}?notice={quote(exc.detail or exc.error)}", status_code=303)
    return RedirectResponse(target, status_code=303)


@router.get("/connections/{connection_id}/events", response_class=EventSourceResponse)
async def events(request: Request, connection_id: uuid.UUID, _: Signed, ctx: Ctx) -> AsyncIterable[ServerSentEvent]:
    """The run's live state: sent when it changes, read at most once a second."""
    last: dict[str, Any] | None = None
    while not await request.is_disconnected():
        snapshot = await _read_snapshot(ctx, connection_id)
        if snapshot != last:
            yield ServerSentEvent(data=snapshot, event="run")
            last = snapshot
        await asyncio.sleep(POLL_INTERVAL_S)


async def _read_snapshot(ctx: AppContext, connection_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.sessionmaker() as db:
        return await _snapshot(db, connection_id)


async def _snapshot(db: AsyncSession, connection_id: uuid.UUID) -> dict[str, Any]:
    latest = (await syncs.latest_full_runs(db, [connection_id])).get(connection_id)
    view = (await syncs.run_views(db, [latest]))[0] if latest else None
    return run_snapshot(view)
