"""The console's store access: "Connect store" (WooCommerce's key grant), "Connect media uploads"
(a WordPress application password), a key pasted by hand, and "Test connection".

The connect buttons are CSRF-checked form posts answering 303 to the store, with the flow's state
(app/oauth/state.py) begun for this browser; the store's answers land in app/oauth/store.py,
which moves the browser back to the status page. Whether one-click can work from this
deployment is worked out from PUBLIC_BASE_URL and shown next to the buttons; they stay usable
(a proxy or a local simulator may know better), and pasting a key by hand is always there.

Test connection runs the checks (app/connections/checks.py), keeps the report in Redis for
REPORT_TTL_S and answers 303 to the report's page (post/redirect/get: a reload shows the report
again instead of testing again).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import Ctx, Session
from app.connections.checks import ConnectionTestRead, run_checks
from app.connections.service import get_connection, store_credentials
from app.core.context import AppContext
from app.integrations.woocommerce.connect import (
    app_password_problems,
    app_password_url,
    key_grant_problems,
    key_grant_url,
)
from app.models import Connection
from app.oauth.state import begin
from app.ui.common import Form, Signed, console_router, templates

REPORT_TTL_S = 3600
router = console_router()


def store_access(request: Request, connection: Connection) -> dict[str, Any]:
    """What the status page's store access panel shows: why one-click may not work, and what a
    flow that just came back did (`?linked=`)."""
    public = request.app.state.ctx.settings.public_base_url
    linked = {"store": "The store is connected: its API key is stored.",
              "media": "Media uploads are connected: the WordPress application password is stored.",
              "keys": "The key you pasted is stored."}
    return {"store_problems": key_grant_problems(public),
            "media_problems": app_password_problems(public, connection.store_base_url),
            "linked": linked.get(request.query_params.get("linked", ""))}


templates.env.globals["store_access"] = store_access


@router.post("/connections/{connection_id}/connect/store")
async def connect_store(request: Request, connection_id: uuid.UUID, _: Form, db: Session, ctx: Ctx) -> Response:
    """Off to the store's WooCommerce key grant page."""
    connection = await get_connection(db, connection_id)
    return await _to_vendor(request, db, ctx, connection, "woocommerce", key_grant_url)


@router.post("/connections/{connection_id}/connect/media")
async def connect_media(request: Request, connection_id: uuid.UUID, _: Form, db: Session, ctx: Ctx) -> Response:
    """Off to WordPress's application password page."""
    connection = await get_connection(db, connection_id)
    return await _to_vendor(request, db, ctx, connection, "wordpress", app_password_url)


async def _to_vendor(request: Request, db: AsyncSession, ctx: AppContext, connection: Connection, purpose: str,
                     url_for: Any) -> Response:
    if not connection.store_base_url:
        return _with_notice(connection.id, "This connection has no store URL yet: set it first.")
    response = RedirectResponse("/", status_code=303)
    state = begin(response, request, ctx.settings, purpose=purpose, connection_id=connection.id)
    response.headers["location"] = url_for(connection.store_base_url, ctx.settings.public_base_url, state)
    return response


@router.post("/connections/{connection_id}/connect/keys")
async def paste_keys(connection_id: uuid.UUID, form: Form, db: Session, ctx: Ctx) -> Response:
    """A key made by hand in WooCommerce → Settings → Advanced → REST API."""
    connection = await get_connection(db, connection_id)
    key, secret = str(form.get("consumer_key") or "").strip(), str(form.get("consumer_secret") or "").strip()
    if not key.startswith("ck_") or not secret.startswith("cs_"):
        return _with_notice(connection_id, "Paste both: the consumer key starts with ck_, the secret with cs_.")
    await store_credentials(db, connection, {"consumer_key": key, "consumer_secret": secret}, keyring=ctx.keyring)
    return RedirectResponse(f"/ui/connections/{connection_id}?linked=keys", status_code=303)


@router.post("/connections/{connection_id}/test/run")
async def run_test(connection_id: uuid.UUID, _: Form, ctx: Ctx) -> Response:
    report = await run_checks(ctx, connection_id)
    await ctx.redis.set(_report_key(connection_id), report.model_dump_json(), ex=REPORT_TTL_S)
    return RedirectResponse(f"/ui/connections/{connection_id}/test", status_code=303)


@router.get("/connections/{connection_id}/test", response_class=HTMLResponse)
async def test_page(request: Request, connection_id: uuid.UUID, session: Signed, db: Session, ctx: Ctx) -> Response:
    """The last Test connection report of this connection (within REPORT_TTL_S), and the button."""
    connection = await get_connection(db, connection_id)
    raw = await ctx.redis.get(_report_key(connection_id))
    report = ConnectionTestRead.model_validate_json(raw) if raw else None
    return templates.TemplateResponse(request, "connection_test.html",
                                      {"session": session, "connection": connection, "report": report})


def _with_notice(connection_id: uuid.UUID, message: str) -> Response:
    return RedirectResponse(f"/ui/connections/{connection_id}?notice={quote(message)}", status_code=303)


def _report_key(connection_id: uuid.UUID) -> str:
    return f"skubridge:console:test:{connection_id}"
