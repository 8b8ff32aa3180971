"""The console's core routes: sign-in, the connections page, a connection's status page, its
controls and its live feed; `install_console` mounts these and every other page module's
router (PAGES). Every route is left out of the OpenAPI document (it is the REST API's
contract, not the console's).

The controls call the same services as the REST API (app/syncs/service.py) in one request
transaction, then answer 303 back to the status page (post/redirect/get), with the service's
refusal, if any, shown on it. They act on the connection's newest full run: the one its status
page shows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import Ctx, Session
from app.connections.service import get_connection, list_connections
from app.core.context import AppContext
from app.core.errors import Conflict
from app.models import RunMode
from app.syncs import service as syncs
from app.ui import connect, log
from app.ui import session as auth
from app.ui.common import HERE, CsrfRefused, Form, Signed, SignedOut, console_router, control, templates
from app.ui.views import run_snapshot, webhook_state
from app.webhooks import setup as webhook_setup

# The live feed reads the database once a second at most: "at most a second behind" for the
# operator, one small query per open page for the database.
POLL_INTERVAL_S = 1.0
router = console_router()
# Every page module's router; a new page adds its module here.
PAGES: tuple[APIRouter, ...] = (router, log.router, connect.router)


def install_console(app: FastAPI) -> None:
    """Mount the console: its pages, its static files, and its two refusals as pages."""
    for page in PAGES:
        app.include_router(page)
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
    return await control(db, connection_id, actions[verb])


@router.post("/connections/{connection_id}/syncs")
async def start(connection_id: uuid.UUID, form: Form, db: Session) -> Response:
    mode = RunMode.VERIFY if form.get("mode") == RunMode.VERIFY else RunMode.STANDARD
    return await control(db, connection_id, lambda: _start(db, connection_id, mode))


@router.post("/connections/{connection_id}/{verb}")
async def run_control(connection_id: uuid.UUID, verb: str, form: Form, db: Session, ctx: Ctx) -> Response:
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

    return await control(db, connection_id, act)


async def _start(db: AsyncSession, connection_id: uuid.UUID, mode: RunMode) -> None:
    await syncs.start_sync(db, await get_connection(db, connection_id), mode=mode)


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
