"""The store's connect flows, vendor side in: WooCommerce's key POST and the browser's return,
WordPress's application password return. The console starts them (app/ui/connect.py).

WooCommerce's callback (`POST /oauth/woocommerce/callback`, server to server, no browser
cookies) redeems the state with `bound=False`, stores the key in the connection's sealed
credentials and answers exactly 200. WooCommerce deletes the key on any other status, so this
endpoint answers something else exactly when it does not want the key: a bad, expired, replayed
or foreign state (400), a body that is no key (400), a key without read and write permission
(403: the flow asked for read_write, so another scope means the request was altered on the way;
the key could not sync anyway), or a connection that no longer exists (404). The key is stored
and committed before the 200 goes out; a failing commit answers 500-class, and the key is
deleted rather than kept in the store unused.

Its outcome is remembered in Redis under the state's nonce for the state's lifetime, so the
browser's return (`GET /oauth/woocommerce/return`, which only shows an outcome and so only
peeks at the state) can say whether the key arrived. WooCommerce shows its own "Access denied"
page when the callback refused the key and never sends the browser back.

WordPress sends the browser to `GET /oauth/wordpress/callback` with `site_url`, `user_login`
and `password`: the state is redeemed bound to the browser that started the flow, and the user
and password are stored as the connection's WordPress user and application password (the
fields manual set-up fills). `GET /oauth/wordpress/reject` shows the refusal.

Each return moves on to the connection's status page with `continue_page` (see app/oauth/state.py).
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import QueryParams

from app.api.deps import Ctx
from app.connections.service import get_connection, store_credentials
from app.core.context import AppContext
from app.core.errors import NotFound
from app.integrations.woocommerce.connect import (
    REQUESTED_SCOPE,
    WOO_CALLBACK_PATH,
    WOO_RETURN_PATH,
    WP_CALLBACK_PATH,
    WP_REJECT_PATH,
    parse_key_grant,
)
from app.oauth.state import STATE_MAX_AGE_S, FlowRefused, FlowState, continue_page, peek, redeem

STORED = "stored"
router = APIRouter(include_in_schema=False)


def _outcome_key(flow: FlowState) -> str:
    return f"skubridge:flow:woocommerce:outcome:{flow.nonce}"


def _refuse(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


@router.post(WOO_CALLBACK_PATH)
async def woocommerce_callback(request: Request, ctx: Ctx) -> Response:
    """WooCommerce's key POST: 200 exactly when the key is stored (see the module docstring)."""
    try:
        grant = parse_key_grant(await request.json())
    except ValueError as exc:
        return _refuse(400, "BadRequest", f"not a WooCommerce key: {exc}")
    try:
        flow = await redeem(request, ctx.settings, ctx.redis, grant.state, purpose="woocommerce", bound=False)
    except FlowRefused as exc:
        return _refuse(400, "FlowRefused", exc.detail)
    if grant.permissions != REQUESTED_SCOPE:
        detail = (f"The store granted a {grant.permissions} key; syncing needs read_write. The key was refused "
                  "(WooCommerce deletes it): connect the store again and approve Read/Write.")
        await ctx.redis.set(_outcome_key(flow), detail, ex=STATE_MAX_AGE_S + 60)
        return _refuse(403, "KeyRefused", detail)
    try:
        await _store(ctx, flow, {"consumer_key": grant.consumer_key, "consumer_secret": grant.consumer_secret})
    except NotFound as exc:
        return _refuse(404, "NotFound", exc.detail)
    await ctx.redis.set(_outcome_key(flow), STORED, ex=STATE_MAX_AGE_S + 60)
    return JSONResponse({"status": STORED}, status_code=200)


async def _store(ctx: AppContext, flow: FlowState, fields: dict[str, str]) -> None:
    """Seal `fields` into the flow's connection's credentials and commit (NotFound: it is gone)."""
    async with ctx.sessionmaker() as db:
        connection = await get_connection(db, flow.connection_id)
        await store_credentials(db, connection, fields, keyring=ctx.keyring)
        await db.commit()


@router.get(WOO_RETURN_PATH)
async def woocommerce_return(request: Request, ctx: Ctx) -> Response:
    """The browser back from WooCommerce: `success=1` after the key POST, `success=0` on Deny."""
    try:
        flow = peek(ctx.settings, request.query_params.get("user_id", ""), purpose="woocommerce")
    except FlowRefused as exc:
        return _refused_page(exc.detail)
    status_page = f"/ui/connections/{flow.connection_id}"
    if request.query_params.get("success") != "1":
        return _notice(status_page, "The store's administrator denied access in WooCommerce: nothing changed.")
    outcome = await ctx.redis.get(_outcome_key(flow))
    outcome = outcome.decode() if isinstance(outcome, bytes) else outcome
    if outcome == STORED:
        return continue_page(f"{status_page}?linked=store", "The store is connected: its API key is stored.")
    return _notice(status_page, outcome or "WooCommerce said it approved, but no key reached this service: the "
                   "store could not deliver it to PUBLIC_BASE_URL. Paste a Read/Write key by hand instead.")


@router.get(WP_CALLBACK_PATH)
async def wordpress_callback(request: Request, ctx: Ctx) -> Response:
    """The browser back from WordPress with the new application password."""
    params = request.query_params
    if params.get("success") == "false":  # WordPress's fallback when no reject_url was given
        return _rejected(ctx, params)
    try:
        flow = await redeem(request, ctx.settings, ctx.redis, params.get("state"), purpose="wordpress")
    except FlowRefused as exc:
        return _refused_page(exc.detail)
    status_page = f"/ui/connections/{flow.connection_id}"
    user, password = params.get("user_login", ""), params.get("password", "")
    if not user or not password:
        return _notice(status_page, "WordPress came back without a user and password: nothing changed.")
    try:
        await _store(ctx, flow, {"wp_username": user, "wp_application_password": password})
    except NotFound as exc:
        return _refused_page(exc.detail)
    return continue_page(f"{status_page}?linked=media", f"Media uploads are connected as {user}.")


@router.get(WP_REJECT_PATH)
async def wordpress_reject(request: Request, ctx: Ctx) -> Response:
    return _rejected(ctx, request.query_params)


def _rejected(ctx: AppContext, params: QueryParams) -> Response:
    try:
        flow = peek(ctx.settings, params.get("state", ""), purpose="wordpress")
    except FlowRefused as exc:
        return _refused_page(exc.detail)
    if params.get("error") == "disabled":
        message = ("WordPress says application passwords are not available on this site (it needs HTTPS, or a "
                   "security plugin turned them off): nothing changed.")
    else:
        message = "The application password was not approved in WordPress: nothing changed."
    return _notice(f"/ui/connections/{flow.connection_id}", message)


def _notice(status_page: str, message: str) -> HTMLResponse:
    return continue_page(f"{status_page}?notice={quote(message)}", message)


def _refused_page(detail: str) -> HTMLResponse:
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>skubridge</title></head><body><main>'
            f'<h1>Sign-in refused</h1><p role="alert">{escape(detail)}</p><p>Nothing changed. '
            f'<a href="/ui/">Back to the console</a></p></main></body></html>')
    return HTMLResponse(body, status_code=400, headers={"Cache-Control": "no-store"})
