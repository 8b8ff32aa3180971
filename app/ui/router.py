"""The console's core routes: sign-in, a connection's status page, its
controls and its live feed; `install_console` mounts these and every other page module's
router (PAGES). Every route is left out of the OpenAPI document (it is the REST API's
contract, not the console's).

The controls call the same services as the REST API (app/syncs/service.py) in one request
transaction, then answer 303 back to the status page (post/redirect/get), with the service's
refusal, if any, shown on it. They act on the run its status page shows: the connection's
newest steered run (manual, scheduled, or a retry of failed items: app/syncs/retry.py).
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
from app.connections.links import LinkState, state_of
from app.connections.service import get_connection
from app.core.context import AppContext
from app.core.errors import Conflict
from app.models import Connection, RunMode
from app.syncs import retry
from app.syncs import service as syncs
from app.ui import budget, connect, connect_zoho, connections, log, preview, settings, webhook_events
from app.ui import session as auth
from app.ui.common import HERE, CsrfRefused, Form, Signed, SignedOut, console_router, control, templates
from app.ui.views import run_snapshot
from app.webhooks import setup as webhook_setup

# The live feed reads the database once a second at most: "at most a second behind" for the
# operator, one small query per open page for the database.
POLL_INTERVAL_S = 1.0
router = console_router()
# Every page module's router; a new page adds its module here.
PAGES: tuple[APIRouter, ...] = (router, connections.router, log.router, settings.router, webhook_events.router,
                                  budget.router, preview.router, connect.router, *connect_zoho.ROUTERS)


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


@router.get("/connections/{connection_id}", response_class=HTMLResponse)
async def status_page(request: Request, connection_id: uuid.UUID, session: Signed, db: Session, ctx: Ctx,
                      notice: str | None = None, failed: bool = False) -> Response:
    """`failed=1`: the "Recently synced" list shows failed items only (the "Failed only" box)."""
    connection = await get_connection(db, connection_id)
    snapshot = await _snapshot(db, connection_id, failed_only=failed, link=state_of(connection, ctx.keyring))
    hook = await webhook_setup.read(db, ctx, connection)
    return templates.TemplateResponse(request, "status.html", {
        "session": session, "connection": connection, "run": snapshot, "notice": notice, "hook": hook})


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
async def start(connection_id: uuid.UUID, form: Form, db: Session, ctx: Ctx) -> Response:
    mode = RunMode.VERIFY if form.get("mode") == RunMode.VERIFY else RunMode.STANDARD
    return await control(db, connection_id, lambda: _start(db, ctx, connection_id, mode))


@router.post("/connections/{connection_id}/retry-failed")
async def retry_failed(connection_id: uuid.UUID, form: Form, db: Session, ctx: Ctx) -> Response:
    """"Retry failed": a retry run of the shown run's failed items (the form says which run, so
    a click on a page that is a run behind retries what the operator saw). A double click finds
    the first retry active: the second is refused, shown as a notice."""
    async def act() -> None:
        run_id = _run_id(form.get("run"))
        if run_id is None:
            latest = (await syncs.latest_full_runs(db, [connection_id])).get(connection_id)
            if latest is None:
                raise Conflict("this connection has no sync to retry")
            run_id = latest.id
        if (await syncs.get_run(db, run_id)).connection_id != connection_id:
            raise Conflict(f"sync {run_id} is not a sync of this connection")
        await retry.start_retry(db, run_id, keyring=ctx.keyring)

    await get_connection(db, connection_id)
    return await control(db, connection_id, act)


def _run_id(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


@router.post("/connections/{connection_id}/pause")
async def pause(connection_id: uuid.UUID, _: Form, db: Session, ctx: Ctx) -> Response:
    return await _run_control(db, ctx, connection_id, "pause")


@router.post("/connections/{connection_id}/resume")
async def resume(connection_id: uuid.UUID, _: Form, db: Session, ctx: Ctx) -> Response:
    return await _run_control(db, ctx, connection_id, "resume")


@router.post("/connections/{connection_id}/cancel")
async def cancel(connection_id: uuid.UUID, _: Form, db: Session, ctx: Ctx) -> Response:
    return await _run_control(db, ctx, connection_id, "cancel")


async def _run_control(db: AsyncSession, ctx: AppContext, connection_id: uuid.UUID, verb: str) -> Response:
    """Pause, resume or cancel the run the page shows (the connection's newest steered run)."""
    lease = ctx.settings.lease_seconds
    actions = {"pause": lambda run_id: syncs.pause_run(db, run_id, lease_seconds=lease),
               "resume": lambda run_id: syncs.resume_run(db, run_id),
               "cancel": lambda run_id: syncs.cancel_run(db, run_id, lease_seconds=lease)}

    async def act() -> None:
        latest = (await syncs.latest_full_runs(db, [connection_id])).get(connection_id)
        if latest is None:
            raise Conflict(f"this connection has no sync to {verb}")
        await actions[verb](latest.id)

    return await control(db, connection_id, act)


async def _start(db: AsyncSession, ctx: AppContext, connection_id: uuid.UUID, mode: RunMode) -> None:
    await syncs.start_sync(db, await get_connection(db, connection_id), keyring=ctx.keyring, mode=mode)


@router.get("/connections/{connection_id}/events", response_class=EventSourceResponse)
async def events(request: Request, connection_id: uuid.UUID, _: Signed, ctx: Ctx,
                 failed: bool = False) -> AsyncIterable[ServerSentEvent]:
    """The run's live state, with its "Recently synced" items (`failed=1`: failed ones only;
    the page reconnects with it when "Failed only" is ticked): sent when it changes, read at
    most once a second."""
    last: dict[str, Any] | None = None
    links: dict[tuple[Any, ...], LinkState] = {}
    while not await request.is_disconnected():
        snapshot = await _read_snapshot(ctx, connection_id, failed_only=failed, links=links)
        if snapshot != last:
            yield ServerSentEvent(data=snapshot, event="run")
            last = snapshot
        await asyncio.sleep(POLL_INTERVAL_S)


async def _read_snapshot(ctx: AppContext, connection_id: uuid.UUID, *, failed_only: bool,
                         links: dict[tuple[Any, ...], LinkState] | None = None) -> dict[str, Any]:
    """The live feed's state, link state included: a connection that gets linked, or needs
    reconnecting, while the page is open turns its start buttons on or off. The feed reads
    once a second and the credentials rarely change, so `links` keeps the state worked out for
    the columns it depends on, and the sealed credentials are opened again only when they change."""
    links = {} if links is None else links
    async with ctx.sessionmaker() as db:
        connection = await db.get(Connection, connection_id)
        link = None
        if connection is not None:
            key = (connection.credentials, connection.zoho_organization_id, connection.zoho_reconnect_reason,
                   connection.zoho_reconnect_at)
            if key not in links:
                links.clear()
                links[key] = state_of(connection, ctx.keyring)
            link = links[key]
        return await _snapshot(db, connection_id, failed_only=failed_only, link=link)


async def _snapshot(db: AsyncSession, connection_id: uuid.UUID, *, failed_only: bool = False,
                    link: LinkState | None = None) -> dict[str, Any]:
    """The shown run (the newest steered one), its counters and its newest done items."""
    latest = (await syncs.latest_full_runs(db, [connection_id])).get(connection_id)
    view = (await syncs.run_views(db, [latest]))[0] if latest else None
    recent = await syncs.recent_items(db, latest.id, failed_only=failed_only) if latest else []
    return run_snapshot(view, recent, failed_only=failed_only, link=link)
