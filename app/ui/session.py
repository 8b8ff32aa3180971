"""The console's session: a signed cookie, its CSRF token, and the sign-in throttle.

- The cookie holds `{"csrf": <random>, "tok": <digest of the API token>}` signed with a key
  derived from SECRET_KEY (itsdangerous, timestamped): nothing secret is in it, and it expires
  after `SESSION_MAX_AGE_S` both in the browser and when it is read. The token digest ends every
  session when API_TOKEN is rotated.
- HttpOnly and SameSite=Strict always; Secure when the console is served over HTTPS.
- The CSRF token is per session (synchronizer pattern): every state-changing form carries it
  and is refused 403 without it, SameSite notwithstanding.
- Five wrong tokens within a minute from one address refuse that address's sign-ins (429
  with Retry-After) until the minute is over: a guesser gets five tries a minute, not thousands.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response

from app.config import Settings

COOKIE = "skubridge_console"
SESSION_MAX_AGE_S = 8 * 3600
FAILED_SIGNINS_ALLOWED = 5
FAILED_SIGNIN_WINDOW_S = 60


@dataclass(frozen=True)
class ConsoleSession:
    csrf: str


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key.get_secret_value(), salt="skubridge-console-session")


def _token_digest(settings: Settings) -> str:
    return hashlib.sha256(b"console:" + settings.api_token.get_secret_value().encode()).hexdigest()[:32]


def token_matches(settings: Settings, offered: str) -> bool:
    return hmac.compare_digest(offered.strip().encode(), settings.api_token.get_secret_value().encode())


def read_session(request: Request, settings: Settings) -> ConsoleSession | None:
    """The session the cookie carries; None when it is missing, forged, expired or from
    before the API token changed."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(settings).loads(raw, max_age=SESSION_MAX_AGE_S)
    except BadSignature:  # SignatureExpired is a BadSignature too
        return None
    if not isinstance(data, dict) or not hmac.compare_digest(str(data.get("tok", "")), _token_digest(settings)):
        return None
    return ConsoleSession(csrf=str(data.get("csrf", "")))


def open_session(response: Response, request: Request, settings: Settings) -> None:
    value = _serializer(settings).dumps({"csrf": secrets.token_urlsafe(32), "tok": _token_digest(settings)})
    response.set_cookie(COOKIE, value, max_age=SESSION_MAX_AGE_S, path="/ui", httponly=True, samesite="strict",
                        secure=served_over_https(request, settings))


def close_session(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict",
                           secure=served_over_https(request, settings))


def served_over_https(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.public_base_url.startswith("https://")


def csrf_ok(session: ConsoleSession, offered: object) -> bool:
    return isinstance(offered, str) and bool(offered) and hmac.compare_digest(offered.encode(), session.csrf.encode())


def _failures_key(address: str) -> str:
    return f"skubridge:console:signin-failures:{address}"


async def signin_wait(redis: Redis, address: str) -> int:
    """Seconds this address must wait before its next sign-in; 0 when it may try now."""
    key = _failures_key(address)
    failures = int(await redis.get(key) or 0)
    if failures < FAILED_SIGNINS_ALLOWED:
        return 0
    ttl = int(await redis.ttl(key))
    return max(ttl, 1)


async def record_failed_signin(redis: Redis, address: str) -> None:
    """Count a wrong token; the window starts at the first failure and is not extended."""
    key = _failures_key(address)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, FAILED_SIGNIN_WINDOW_S, nx=True)
        await pipe.execute()
