"""The console's Zoho sign-in: "Link by signing in" (a connection with a name, a store URL and a
platform only), "Connect Zoho" / "Reconnect Zoho", Zoho's callback and the organization picker.

The flow (app/connections/zoho_signin.py has the vendor side):
1. `POST /ui/connections/{id}/connect/zoho` (CSRF form) begins a state (app/oauth/state.py, which
   also sets the browser's binding cookie) and answers 303 to Zoho's consent page.
2. Zoho sends the browser to `GET /oauth/zoho/callback` with `code`, `location`,
   `accounts-server` and `state` (or `error` on a deny). That request carries no console session
   (SameSite=Strict, Path=/ui): the state, bound to this browser, is what authorises it. The
   callback redeems the state first: a wrong, replayed or expired one changes nothing, and
   neither does a deny. It answers with `continue_page` to the connection's Zoho page with a
   `result` code, whose words live here (RESULTS), so nothing the vendor sent is echoed.
3. With several organizations, the Zoho page lists them and `POST .../zoho/organization` keeps
   the one picked.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import AnyHttpUrl, BaseModel, Field, ValidationError

from app.api.deps import Ctx, Session
from app.connections import zoho_signin
from app.connections.adapters import target_policy
from app.connections.links import state_of
from app.connections.service import create_unlinked, get_connection
from app.core.context import AppContext
from app.core.errors import Conflict, NotFound
from app.models.connection import PLATFORMS
from app.oauth import state as flow
from app.ui.common import Form, Signed, console_router, control, templates

log = structlog.get_logger(__name__)
router = console_router()
# The callback is not under /ui: Zoho's redirect lands outside the console's session cookie.
callback_router = APIRouter(include_in_schema=False)
PURPOSE = "zoho"

# What the Zoho page says about the sign-in that just came back ("result" in its query).
RESULTS: dict[str, tuple[str, str]] = {
    "linked": ("ok", "Zoho is linked."),
    "pick": ("ok", "Zoho signed you in. This account has several organizations: pick the one to sync."),
    "picked": ("ok", "Zoho is linked to the organization you picked."),
    "denied": ("error", "Zoho sign-in was denied (access was not granted). Nothing was changed."),
    "invalid": ("error", "This sign-in did not start here: the state does not match. Nothing was changed."),
    "expired": ("error", "This sign-in link expired (10 minutes). Nothing was changed: start again."),
    "replayed": ("error", "This sign-in link was already used. Nothing was changed: start again."),
    "other_browser": ("error", "This sign-in was started in another browser or session. Nothing was changed."),
    "wrong_flow": ("error", "This sign-in belongs to another flow. Nothing was changed."),
    "untrusted_server": ("error", "Zoho's answer named a server that is not Zoho's, so the sign-in was stopped "
                                  "before any secret was sent. Nothing was changed."),
    "exchange_failed": ("error", "Zoho did not complete the sign-in: start again."),
    "no_organization": ("error", "This Zoho account has no Inventory organization."),
    "incomplete": ("error", "Zoho came back without a sign-in code. Nothing was changed."),
}


class LinkForm(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    store_url: AnyHttpUrl
    platform: str = Field(pattern=f"^({'|'.join(PLATFORMS)})$")


@router.get("/link", response_class=HTMLResponse)
async def link_page(request: Request, session: Signed) -> Response:
    """"Link by signing in": a connection with a name, a store URL and a platform."""
    return templates.TemplateResponse(request, "link.html", {"session": session, "values": {}, "errors": {},
                                                             "platforms": PLATFORMS})


@router.post("/link", response_class=HTMLResponse)
async def create_link(request: Request, session: Signed, form: Form, db: Session, ctx: Ctx) -> Response:
    """Create the unlinked connection, then on to its Zoho page; problems at their fields (422)."""
    values = {k: str(form.get(k, "")).strip() for k in ("name", "store_url", "platform")}
    errors: dict[str, str] = {}
    try:
        data = LinkForm.model_validate(values)
        connection = await create_unlinked(db, name=data.name, store_url=str(data.store_url), platform=data.platform,
                                           keyring=ctx.keyring, targets=target_policy(ctx))
    except ValidationError as exc:
        errors = {str(e["loc"][0]): e["msg"] for e in exc.errors()}
    except RequestValidationError as exc:  # the target policy refused the store's address
        errors = {"store_url": "; ".join(str(e["msg"]) for e in exc.errors())}
    if errors:
        return templates.TemplateResponse(request, "link.html", {"session": session, "values": values,
                                                                 "errors": errors, "platforms": PLATFORMS},
                                          status_code=422)
    return RedirectResponse(f"/ui/connections/{connection.id}/zoho", status_code=303)


@router.get("/connections/{connection_id}/zoho", response_class=HTMLResponse)
async def zoho_page(request: Request, connection_id: uuid.UUID, session: Signed, db: Session, ctx: Ctx,
                    result: str | None = None, notice: str | None = None) -> Response:
    """The connection's Zoho side: its state, the last sign-in's outcome, the organization picker."""
    connection = await get_connection(db, connection_id)
    return templates.TemplateResponse(request, "zoho.html", {
        "session": session, "connection": connection, "link": state_of(connection, ctx.keyring),
        "result": RESULTS.get(result or ""), "notice": notice,
        "organizations": await zoho_signin.pending_organizations(ctx, connection_id)})


@router.post("/connections/{connection_id}/connect/zoho")
async def connect_zoho(request: Request, connection_id: uuid.UUID, _: Form, db: Session, ctx: Ctx) -> Response:
    """"Connect Zoho" / "Reconnect Zoho": on to Zoho's consent page with a fresh state."""
    connection = await get_connection(db, connection_id)
    response = RedirectResponse("/", status_code=303)
    state = flow.begin(response, request, ctx.settings, purpose=PURPOSE, connection_id=connection.id)
    try:
        response.headers["location"] = zoho_signin.authorize_url(ctx, connection, state)
    except Conflict as exc:  # no OAuth client configured: said on the Zoho page
        return RedirectResponse(f"/ui/connections/{connection_id}/zoho?notice={quote(exc.detail)}", status_code=303)
    return response


@router.post("/connections/{connection_id}/zoho/organization")
async def pick_organization(connection_id: uuid.UUID, form: Form, db: Session, ctx: Ctx) -> Response:
    back = f"/ui/connections/{connection_id}/zoho"

    async def pick() -> None:
        await zoho_signin.pick_organization(ctx, db, connection_id, str(form.get("organization_id", "")))

    answer = await control(db, connection_id, pick, back=back)
    if answer.headers["location"] == back:
        answer.headers["location"] = f"{back}?result=picked"
    return answer


@callback_router.get(zoho_signin.CALLBACK_PATH)
async def zoho_callback(request: Request, ctx: Ctx) -> Response:
    """Zoho's redirect after consent (see the module docstring)."""
    query = request.query_params
    try:
        state = await flow.redeem(request, ctx.settings, ctx.redis, query.get("state"), purpose=PURPOSE)
    except flow.FlowRefused as exc:
        log.warning("zoho_signin.refused", reason=exc.reason)
        return _outcome(None, exc.reason)
    if query.get("error"):
        log.info("zoho_signin.denied", connection_id=str(state.connection_id), error=query.get("error"))
        return _outcome(state.connection_id, "denied")
    if not query.get("code"):
        return _outcome(state.connection_id, "incomplete")
    return _outcome(state.connection_id, await _complete(ctx, state.connection_id, query))


async def _complete(ctx: AppContext, connection_id: uuid.UUID, query: Any) -> str:
    try:
        linked = await zoho_signin.complete(ctx, connection_id, code=query["code"], location=query.get("location"),
                                            accounts_server=query.get("accounts-server"))
    except zoho_signin.SignInFailed as exc:
        log.warning("zoho_signin.failed", connection_id=str(connection_id), reason=exc.reason, detail=exc.detail)
        return exc.reason
    except NotFound:
        return "invalid"
    log.info("zoho_signin.linked", connection_id=str(connection_id), revoked_old=linked.revoked_old)
    return "linked" if linked.organization_id else "pick"


def _outcome(connection_id: uuid.UUID | None, result: str) -> Response:
    target = f"/ui/connections/{connection_id}/zoho" if connection_id else "/ui/zoho/signin"
    return flow.continue_page(f"{target}?result={result}", RESULTS.get(result, ("", "Zoho sign-in"))[1])


@router.get("/zoho/signin", response_class=HTMLResponse)
async def signin_outcome(request: Request, session: Signed, result: str | None = None) -> Response:
    """A sign-in whose state was unusable (so its connection is unknown): what went wrong."""
    return templates.TemplateResponse(request, "zoho.html", {
        "session": session, "connection": None, "link": None, "notice": None, "organizations": [],
        "result": RESULTS.get(result or "", RESULTS["invalid"])})


ROUTERS = (router, callback_router)
