"""Zoho access tokens, shared by every worker through Redis and refreshed single-flight.

Zoho issues about 10 access tokens per refresh token per 10 minutes and then blocks the rest of
the window, so a token is cached until a minute before it expires, exactly one process refreshes
at a time, and a throttled refresh sets a cool-down that every process honours.

The refresh lock is redis-py's Lock: it carries an owner token, so a holder whose lock lapsed and
was taken over never releases the new owner's. The token request is bounded well below the
lock's TTL, so a lock never lapses while its holder is still asking Zoho.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from app.core.scripts import run_script
from app.integrations.metrics import VENDOR_REQUESTS
from app.integrations.zoho.errors import ZohoAuthError, ZohoRefreshRefused, ZohoUnavailable

log = structlog.get_logger(__name__)

REFRESH_MARGIN_S = 60  # refresh a minute before expiry
LOCK_TTL_S = 20.0
# Each phase of the token request (connect, send, each read) and the whole of it, below the
# lock's TTL with room for the Redis writes that follow.
TOKEN_REQUEST_TIMEOUT = httpx.Timeout(5.0)
TOKEN_REQUEST_DEADLINE_S = 12.0
WAIT_FOR_PEER_S = 25.0
THROTTLE_COOLDOWN_S = 60  # Zoho's advice is "try again after some time"; a minute at least
ERROR_MEMORY_S = 30  # peers waiting on a refresh that failed for bad credentials fail too

_DELETE_IF_TOKEN = """
local v = redis.call('GET', KEYS[1])
if v and string.find(v, ARGV[1], 1, true) then return redis.call('DEL', KEYS[1]) end
return 0
"""


class _Throttled(Exception):
    """The token endpoint said "too many requests": cool down, then try again."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str
    api_domain: str | None
    expires_at: float


class TokenManager:
    def __init__(self, *, redis: Redis, http: httpx.AsyncClient, accounts_url: str, client_id: str,
                 client_secret: str, refresh_token: str) -> None:
        self._redis = redis
        self._http = http
        self._accounts_url = accounts_url
        self._form = {"client_id": client_id, "client_secret": client_secret,
                      "grant_type": "refresh_token", "refresh_token": refresh_token}
        # The secret is part of the key: once an operator fixes a wrong secret, the remembered
        # refusal of the old one no longer applies.
        digest = hashlib.sha256(f"{accounts_url}|{client_id}|{client_secret}|{refresh_token}".encode()).hexdigest()[:24]
        self._key = f"skubridge:zoho:token:{digest}"

    async def get(self) -> AccessToken:
        """A valid access token: from the cache, from a peer's refresh, or refreshed here."""
        deadline = time.monotonic() + WAIT_FOR_PEER_S
        while True:
            cached = await self._cached()
            if cached is not None:
                return cached
            await self._raise_remembered_error()
            if await self._cooling_down():
                await asyncio.sleep(1.0)
                continue
            lock = self._redis.lock(f"{self._key}:lock", timeout=LOCK_TTL_S, blocking=False)
            if await lock.acquire():
                try:
                    # A peer may have stored a token between our look and our lock.
                    return await self._cached() or await self._refresh()
                except _Throttled:
                    continue  # the cool-down is set: wait it out above
                finally:
                    await _release(lock)
            if time.monotonic() > deadline:
                raise ZohoUnavailable("timed out waiting for another worker to refresh the Zoho token")
            await asyncio.sleep(0.1)

    async def invalidate(self, token: AccessToken) -> None:
        """Forget `token` (Zoho refused it), unless a peer already replaced it."""
        await run_script(self._redis, _DELETE_IF_TOKEN, [self._key], [token.value])

    async def _cached(self) -> AccessToken | None:
        raw = await self._redis.get(self._key)
        if not raw:
            return None
        data = json.loads(raw)
        return AccessToken(data["access_token"], data.get("api_domain"), float(data["expires_at"]))

    async def _raise_remembered_error(self) -> None:
        error = await self._redis.get(f"{self._key}:error")
        if error:
            raise token_error(error.decode() if isinstance(error, bytes) else error)

    async def _cooling_down(self) -> bool:
        return bool(await self._redis.exists(f"{self._key}:cooldown"))

    async def _refresh(self) -> AccessToken:
        try:
            async with asyncio.timeout(TOKEN_REQUEST_DEADLINE_S):
                response = await self._http.post(f"{self._accounts_url}/oauth/v2/token", data=self._form,
                                                 timeout=TOKEN_REQUEST_TIMEOUT)
        except TimeoutError as exc:
            VENDOR_REQUESTS.labels("zoho", "POST /oauth/v2/token", "network").inc()
            raise ZohoUnavailable("Zoho accounts server did not answer in time") from exc
        except httpx.TransportError as exc:
            VENDOR_REQUESTS.labels("zoho", "POST /oauth/v2/token", "network").inc()
            raise ZohoUnavailable(f"Zoho accounts server unreachable: {type(exc).__name__}") from exc
        VENDOR_REQUESTS.labels("zoho", "POST /oauth/v2/token", str(response.status_code)).inc()
        body = json_or_empty(response)
        if "access_token" in body:
            return await self._store(body)
        return await self._fail(response.status_code, body)

    async def _store(self, body: dict[str, Any]) -> AccessToken:
        expires_in = int(body.get("expires_in") or 3600)
        token = AccessToken(body["access_token"], body.get("api_domain"), time.time() + expires_in)
        ttl = max(1, expires_in - REFRESH_MARGIN_S)
        payload = {"access_token": token.value, "api_domain": token.api_domain, "expires_at": token.expires_at}
        await self._redis.set(self._key, json.dumps(payload), ex=ttl)
        log.info("zoho.token_refreshed", expires_in=expires_in)
        return token

    async def _fail(self, status: int, body: dict[str, Any]) -> AccessToken:
        description = str(body.get("error_description") or "")
        if body.get("error") == "Access Denied" or "too many requests" in description.lower():
            await self._redis.set(f"{self._key}:cooldown", "1", ex=THROTTLE_COOLDOWN_S)
            log.warning("zoho.token_throttled", cooldown=THROTTLE_COOLDOWN_S)
            raise _Throttled
        if status >= 500:
            raise ZohoUnavailable(f"Zoho accounts server answered {status}")
        # Zoho answers bad credentials with HTTP 200 and {"error": "invalid_client" | "invalid_code"}.
        error = str(body.get("error") or f"HTTP {status}")
        await self._redis.set(f"{self._key}:error", error, ex=ERROR_MEMORY_S)
        raise token_error(error)


async def _release(lock: Lock) -> None:
    """Give the refresh lock back if it is still ours; one that lapsed (and may now be another
    worker's) is left alone."""
    try:
        await lock.release()
    except LockError:  # LockNotOwnedError included: lapsed, or taken over by another worker
        log.warning("zoho.token_lock_lost", lock=lock.name)


def token_error(error: str) -> ZohoAuthError:
    """The error for the token endpoint's `error`: a refused refresh token (invalid_code) needs
    the operator to connect Zoho again; the rest are the client's or unknown."""
    if error == "invalid_code":
        return ZohoRefreshRefused("Zoho refused the refresh token: it was revoked, replaced by a newer sign-in, "
                                  "or is wrong (invalid_code)", code=error)
    if error == "invalid_client":
        return ZohoAuthError("Zoho refused the client id or client secret (invalid_client)", code=error)
    return ZohoAuthError(f"Zoho refused to issue an access token ({error})", code=error)


def json_or_empty(response: httpx.Response) -> dict[str, Any]:
    """An accounts-server answer's JSON object; {} when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
