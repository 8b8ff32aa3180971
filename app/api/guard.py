"""The API's edge: who may send a body, and how much of one, decided before any of it is read.

A pure ASGI middleware (BaseHTTPMiddleware would wrap every request in a task and a stream
for no gain), outside routing and FastAPI's body parsing:

- `/api/v1/*` without the bearer token is answered 401 before a byte of the body is read, so
  an anonymous client can make the API neither hold nor parse its payload (a malformed body
  without a token is a 401, not a 422).
- Every body is capped at `API_MAX_BODY_BYTES`: a Content-Length over the cap is answered 413 at
  once; a chunked body is counted as the app reads it and refused the moment it passes the cap,
  the rest left unread. Routes that read and limit their own bodies (Zoho's webhook intake,
  `WEBHOOK_MAX_BODY_BYTES`) are passed through untouched.

Starlette's own body-limit middleware answers in plain text and cannot leave the intake to its
own limit, hence this one.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def token_refusal(authorization: str | None, expected: str) -> str | None:
    """Why an Authorization header does not carry the API token; None when it does."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "send the API token as 'Authorization: Bearer <API_TOKEN>'"
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return "the API token is not valid"
    return None


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the cap. An HTTPException because
    FastAPI lets those out of its body parsing (any other error there becomes its own 400);
    the app's handler renders it as `PayloadTooLarge`."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_detail(limit))


def too_large_detail(limit: int) -> str:
    return f"the body is larger than {limit} bytes"


class EdgeGuard:
    def __init__(self, app: ASGIApp, *, api_token: SecretStr, max_body_bytes: int, token_prefix: str,
                 own_body_routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self._token = api_token
        self._limit = max_body_bytes
        self._prefix = token_prefix
        self._own_body_routes = own_body_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._reads_own_body(scope):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = (token_refusal(headers.get("authorization"), self._token.get_secret_value())
                   if self._needs_token(scope) else None)
        if refusal:
            response = JSONResponse({"error": "Unauthorized", "detail": refusal}, status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
        elif _declared_length(headers) > self._limit:
            response = JSONResponse({"error": "PayloadTooLarge", "detail": too_large_detail(self._limit)},
                                    status_code=413)
        else:
            await self.app(scope, _capped(receive, self._limit), send)
            return
        await response(scope, receive, send)

    def _reads_own_body(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is Match.FULL for route in self._own_body_routes)

    def _needs_token(self, scope: Scope) -> bool:
        # Routing matches the path below root_path (when behind a proxy prefix); so does this.
        path: str = scope["path"].removeprefix(scope.get("root_path", ""))
        return path == self._prefix or path.startswith(self._prefix + "/")


def _declared_length(headers: Headers) -> int:
    value = headers.get("content-length", "")
    return int(value) if value.isdigit() else 0


def _capped(receive: Receive, limit: int) -> Receive:
    """`receive` counting body bytes: past `limit` it raises instead of handing the app more."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return capped
