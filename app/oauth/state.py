"""The `state` of a connect flow: signed, single-use, bound to the browser that started it, and
good for STATE_MAX_AGE_S.

A flow starts from the console (a signed-in session) and comes back from the vendor on a
cross-site navigation. The console's session cookie is SameSite=Strict and scoped to /ui, so it
is *not* sent on that return. The binding is therefore a second cookie, `FLOW_COOKIE`: random,
HttpOnly, SameSite=Lax (sent on a top-level cross-site GET, which the return is), scoped to
/oauth, set by `begin` only for a signed-in session. The state carries a digest of it, so a state
copied into another browser, or one started by someone else, is refused.

Single use: `redeem` records the state's nonce in Redis with SET NX for as long as the state could
be valid; a second redeem is refused as replayed. A vendor's server-to-server callback (the
WooCommerce key POST carries no browser cookies) redeems with `bound=False`: the signature, age,
purpose and single use still hold.

After a cross-site return, a redirect straight to a /ui page would still arrive without the
Strict session cookie (the chain started on another site). Callbacks answer with a small page
that moves on by itself (`continue_page`), whose navigation is same-site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from html import escape
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.config import Settings

STATE_MAX_AGE_S = 600
FLOW_COOKIE = "skubridge_flow"
FLOW_COOKIE_PATH = "/oauth"


class FlowRefused(Exception):
    """A state that cannot be honoured; `reason` is one of REASONS, `detail` says it in words."""

    REASONS = ("invalid", "expired", "wrong_flow", "other_browser", "replayed")

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class FlowState:
    purpose: str
    connection_id: uuid.UUID
    nonce: str
    extra: dict[str, Any] = field(default_factory=dict)


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key.get_secret_value(), salt="skubridge-connect-flow")


def _digest(binding: str) -> str:
    return hashlib.sha256(b"flow:" + binding.encode()).hexdigest()[:32]


def begin(response: Response, request: Request, settings: Settings, *, purpose: str, connection_id: uuid.UUID,
          extra: dict[str, Any] | None = None) -> str:
    """A new state for `purpose` ("zoho", "woocommerce", "wordpress"); sets (or keeps) the
    browser's binding cookie on `response`. Call it only for a signed-in console session."""
    binding = request.cookies.get(FLOW_COOKIE) or secrets.token_urlsafe(32)
    https = request.url.scheme == "https" or settings.public_base_url.startswith("https://")
    response.set_cookie(FLOW_COOKIE, binding, max_age=STATE_MAX_AGE_S, path=FLOW_COOKIE_PATH, httponly=True,
                        samesite="lax", secure=https)
    payload = {"p": purpose, "c": str(connection_id), "b": _digest(binding), "n": secrets.token_urlsafe(16),
               "x": extra or {}}
    return _serializer(settings).dumps(payload)


def peek(settings: Settings, state: str, *, purpose: str) -> FlowState:
    """The state's contents once its signature, age and purpose hold, without using it up
    (for pages that only show an outcome)."""
    try:
        data = _serializer(settings).loads(state, max_age=STATE_MAX_AGE_S)
    except SignatureExpired:
        raise FlowRefused("expired", "This sign-in link has expired (10 minutes): start again.") from None
    except BadSignature:
        raise FlowRefused("invalid", "This sign-in did not start here: the state does not match.") from None
    if not isinstance(data, dict) or data.get("p") != purpose:
        raise FlowRefused("wrong_flow", "This sign-in belongs to another flow: start again.")
    try:
        connection_id = uuid.UUID(str(data["c"]))
    except (KeyError, ValueError):
        raise FlowRefused("invalid", "This sign-in did not start here: the state does not match.") from None
    return FlowState(purpose=purpose, connection_id=connection_id, nonce=str(data.get("n", "")),
                     extra=dict(data.get("x") or {}))


async def redeem(request: Request, settings: Settings, redis: Redis, state: str | None, *, purpose: str,
                 bound: bool = True) -> FlowState:
    """Use a state up: FlowRefused unless it is ours, fresh, for this flow, from this browser
    (when `bound`) and not used before."""
    if not state:
        raise FlowRefused("invalid", "The sign-in came back without its state: start again.")
    flow = peek(settings, state, purpose=purpose)
    data = _serializer(settings).loads(state, max_age=STATE_MAX_AGE_S)
    if bound:
        binding = request.cookies.get(FLOW_COOKIE, "")
        if not binding or not hmac.compare_digest(_digest(binding), str(data.get("b", ""))):
            raise FlowRefused("other_browser", "This sign-in was started in another browser or session: start again.")
    fresh = await redis.set(f"skubridge:flow:used:{flow.nonce}", "1", nx=True, ex=STATE_MAX_AGE_S + 60)
    if not fresh:
        raise FlowRefused("replayed", "This sign-in link was already used: start again.")
    return flow


def continue_page(target: str, message: str) -> HTMLResponse:
    """A page that moves the browser on to `target` (a same-site navigation, so the console's
    Strict session cookie goes with it), with a link for browsers that do not follow the
    refresh. `target` is a path of this service."""
    if not target.startswith("/") or target.startswith("//"):
        raise ValueError("continue_page goes to a path of this service")
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" '
            f'content="0;url={escape(target)}"><title>skubridge</title></head><body><main><p>{escape(message)}</p>'
            f'<p><a href="{escape(target)}">Continue</a></p></main></body></html>')
    return HTMLResponse(body, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
