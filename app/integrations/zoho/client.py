"""Zoho Inventory API v1 client.

Every call, item pages, details, groups, images and settings alike, goes through `_exchange`:
it waits for the organization's shared budget (any block in force, the minute window, a free
in-flight slot), carries `Authorization: Zoho-oauthtoken` and `organization_id`, checks the
envelope's `code`, and retries what is worth retrying. A 429 blocks the whole organization, in
every worker, for its Retry-After (capped backoff with jitter when absent); a wait longer than
`max_retry_wait`, or a spent daily quota (code 45), raises `ZohoQuotaExhausted` so the run
pauses. Too many calls in flight (code 1070) is retried after a short backoff.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import structlog

from app.catalog.types import CatalogGroup, CatalogItem, DownloadedImage
from app.integrations.metrics import VENDOR_REQUESTS
from app.integrations.retry import Attempts, Retry, RetryPolicy, Wait, call_with_retries, retry_after_seconds
from app.integrations.targets import OPEN, TargetPolicy
from app.integrations.zoho import automation
from app.integrations.zoho.datacenters import API_PATH, accounts_url_for, api_domain_for
from app.integrations.zoho.errors import (
    ZohoAuthError,
    ZohoError,
    ZohoImageUnavailable,
    ZohoNotFound,
    ZohoQuotaExhausted,
    ZohoRequestError,
    ZohoTargetRefused,
    ZohoUnavailable,
)
from app.integrations.zoho.images import MAX_IMAGE_BYTES, read_image
from app.integrations.zoho.parse import parse_group, parse_item
from app.integrations.zoho.ratelimit import IMAGE_RESERVE, ZohoBudget, seconds_to_utc_midnight
from app.integrations.zoho.tokens import AccessToken, TokenManager

log = structlog.get_logger(__name__)

PER_PAGE = 200  # Zoho's default and, as far as any client has found, its maximum
DETAILS_CHUNK = 100  # ids per /itemdetails call (used by zoho-ts; Zoho documents no maximum)
MAX_RATE_WAITS = 30  # 429s, and apart from them code 1070s, sat out in one call before it gives up
# One call's retry policies besides its failures (network errors and 5xx, `max_attempts`):
RATE_WAITS = RetryPolicy(MAX_RATE_WAITS + 1, base=1.0, backoff_cap=60.0)  # 429: the organization's block
CROWDED = RetryPolicy(MAX_RATE_WAITS + 1, base=0.25, backoff_cap=2.0)  # code 1070: too many in flight
REFRESHED = RetryPolicy(2, base=0.0, backoff_cap=0.0)  # 401: a fresh token, once, at once
TIMEOUT = httpx.Timeout(60.0, connect=10.0)

# Envelope codes of refusals for load. Zoho Inventory documents none of them: these are Zoho
# Books' (shared/reference/operator.md §5, zoho-api.md §5.2), answered with HTTP 429 there.
CODE_RATE_MINUTE = 44  # over 100 calls a minute
CODE_DAILY_QUOTA = 45  # the plan's calls for the day are spent; the message states the limit
CODE_TOO_MANY_IN_FLIGHT = 1070  # over the plan's concurrent calls (5 free, 10 paid)
# "... exceeded the maximum call rate limit of 1000." (Books' wording; Inventory's is unverified)
_STATED_LIMIT = re.compile(r"limit of\s+([\d,]+)")

_Reader = Callable[[httpx.Response], Awaitable[Any]]


class ZohoClient:
    def __init__(
        self,
        *,
        organization_id: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        data_center: str,
        budget: ZohoBudget,
        redis: Any,
        api_base_url: str | None = None,
        accounts_base_url: str | None = None,
        max_attempts: int = 5,
        max_retry_wait: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
        targets: TargetPolicy = OPEN,
    ) -> None:
        self.organization_id = organization_id
        self._budget = budget
        self._override = api_base_url
        self._data_center = data_center
        self._failures = RetryPolicy(max_attempts, base=0.5, backoff_cap=30.0)  # network errors and 5xx
        self._max_retry_wait = max_retry_wait
        # One client, one guard: API calls, image downloads and the accounts server's token call.
        transport = transport or targets.transport(verify=True, refuse=ZohoTargetRefused)
        self._http = httpx.AsyncClient(timeout=TIMEOUT, transport=transport, headers={"User-Agent": "skubridge/0.1"})
        self._tokens = TokenManager(
            redis=redis, http=self._http, accounts_url=accounts_url_for(data_center, accounts_base_url),
            client_id=client_id, client_secret=client_secret, refresh_token=refresh_token,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ZohoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- items -----------------------------------------------------------------------------

    async def iter_item_pages(self, *, modified_since: datetime | None = None) -> AsyncIterator[list[CatalogItem]]:
        """Every item, a page (200) at a time.

        Pages are ordered by creation time, oldest first, so an item created during the scan
        lands on a later page instead of shifting the pages already read; with `modified_since`
        they are ordered by modification time. Callers dedupe by item id either way.
        """
        params: dict[str, Any] = {"per_page": PER_PAGE, "filter_by": "Status.All",
                                  "sort_column": "created_time", "sort_order": "A"}
        if modified_since is not None:
            params.update(sort_column="last_modified_time", last_modified_time=format_zoho_time(modified_since))
        page = 1
        while True:
            body = await self._get("/items", {**params, "page": page}, endpoint="GET /items")
            yield [parse_item(row) for row in body.get("items") or [] if isinstance(row, dict)]
            if not (body.get("page_context") or {}).get("has_more_page"):
                return
            page += 1

    async def get_item_details(self, item_ids: Iterable[str]) -> list[CatalogItem]:
        """Full records for `item_ids`, up to 100 per call; ids Zoho does not know are left out."""
        ids = list(dict.fromkeys(item_ids))
        items: list[CatalogItem] = []
        for start in range(0, len(ids), DETAILS_CHUNK):
            chunk = ids[start : start + DETAILS_CHUNK]
            body = await self._get("/itemdetails", {"item_ids": ",".join(chunk)}, endpoint="GET /itemdetails")
            items.extend(parse_item(row) for row in body.get("items") or [] if isinstance(row, dict))
        return items

    async def get_item(self, item_id: str) -> CatalogItem | None:
        """One item's authoritative state, or None when Zoho says it does not exist."""
        try:
            body = await self._get(f"/items/{item_id}", {}, endpoint="GET /items/{item_id}")
        except ZohoNotFound:
            return None
        return parse_item(body.get("item") or {})

    async def iter_group_pages(self) -> AsyncIterator[list[CatalogGroup]]:
        """Every item group's own fields, a page (200) at a time (`GET /itemgroups`); the
        items each row lists are left out, a full sync reads them from `/items`."""
        page = 1
        while True:
            body = await self._get("/itemgroups", {"per_page": PER_PAGE, "page": page}, endpoint="GET /itemgroups")
            yield [parse_group(row) for row in body.get("itemgroups") or [] if isinstance(row, dict)]
            if not (body.get("page_context") or {}).get("has_more_page"):
                return
            page += 1

    async def get_group(self, group_id: str) -> CatalogGroup | None:
        """One item group with every item of it, whatever its status, in one call
        (`GET /itemgroups/{id}`, envelope `item_group`); None when Zoho does not know it."""
        try:
            body = await self._get(f"/itemgroups/{group_id}", {}, endpoint="GET /itemgroups/{group_id}")
        except ZohoNotFound:
            return None
        group = body.get("item_group")
        return parse_group(group, with_items=True) if isinstance(group, dict) else None

    async def download_item_image(self, item_id: str, *, max_bytes: int = MAX_IMAGE_BYTES) -> DownloadedImage:
        """The item's primary image as Zoho stores it (`GET /items/{item_id}/image`).

        ZohoImageUnavailable, with a reason to record against the item, when there is none to
        have: a 404 (no image, no such item, or an image Zoho cannot serve), a JSON answer where
        bytes were expected, an empty body, or more than `max_bytes` (refused while streaming).
        Bytes that are not an image are returned as they are; the optimiser refuses them.
        """
        async def read(response: httpx.Response) -> DownloadedImage | None:
            return None if _is_json(response) else await read_image(response, item_id=item_id, max_bytes=max_bytes)

        answer = await self._exchange("GET", f"/items/{item_id}/image", endpoint="GET /items/{item_id}/image",
                                      read=read, reserve=IMAGE_RESERVE)
        if isinstance(answer, DownloadedImage):
            return answer
        raise _no_image(answer, item_id)

    async def fetch_access_token(self) -> None:
        """An access token from the refresh token (a cached one counts: Zoho allows about ten
        refreshes per ten minutes); ZohoAuthError when Zoho refuses the refresh token."""
        await self._tokens.get()

    async def get_organization(self) -> dict[str, Any]:
        """The connection's organization (`GET /organizations/{id}`, scope settings.READ)."""
        body = await self._get(f"/organizations/{self.organization_id}", {}, endpoint="GET /organizations/{id}")
        organization = body.get("organization")
        return organization if isinstance(organization, dict) else {}

    async def probe_list(self, path: str) -> None:
        """The first row of a listing (`per_page=1`): proves the call is allowed, reads little."""
        await self._get(path, {"per_page": 1, "page": 1}, endpoint=f"GET {path}")

    async def check_access(self) -> None:
        """One cheap call that proves the credentials and the organization id."""
        await self._get("/items", {"per_page": 1, "page": 1}, endpoint="GET /items")

    # --- webhooks and workflow rules ------------------------------------------------------
    # These endpoints are not in Zoho Inventory's OpenAPI document; third parties use them and
    # Zoho Books documents the same resources. Every body shape lives in app/integrations/zoho/
    # automation.py so a correction touches one file.

    async def create_webhook(self, *, name: str, url: str, secret: str) -> str:
        body = await self._request("POST", "/settings/webhooks", json=automation.webhook_body(name, url, secret),
                                   endpoint="POST /settings/webhooks")
        return automation.id_of(body, "webhook")

    async def create_item_workflow(self, *, name: str, webhook_id: str) -> str:
        body = await self._request("POST", "/settings/workflows", json=automation.workflow_body(name, webhook_id),
                                   endpoint="POST /settings/workflows")
        return automation.id_of(body, "workflow")

    async def set_workflow_active(self, workflow_id: str, active: bool) -> None:
        verb = "active" if active else "inactive"
        await self._request("POST", f"/settings/workflows/{workflow_id}/{verb}",
                            endpoint=f"POST /settings/workflows/{{id}}/{verb}")

    async def delete_workflow(self, workflow_id: str) -> None:
        """Delete; one that is already gone counts as deleted."""
        try:
            await self._request("DELETE", f"/settings/workflows/{workflow_id}",
                                endpoint="DELETE /settings/workflows/{id}")
        except ZohoNotFound:
            pass

    async def delete_webhook(self, webhook_id: str) -> None:
        try:
            await self._request("DELETE", f"/settings/webhooks/{webhook_id}", endpoint="DELETE /settings/webhooks/{id}")
        except ZohoNotFound:
            pass

    # --- transport -------------------------------------------------------------------------

    async def _get(self, path: str, params: dict[str, Any], *, endpoint: str) -> dict[str, Any]:
        return await self._request("GET", path, params=params, endpoint=endpoint)

    async def _request(self, method: str, path: str, *, endpoint: str, params: dict[str, Any] | None = None,
                       json: Any = None) -> dict[str, Any]:
        return _envelope(await self._exchange(method, path, endpoint=endpoint, params=params, json=json))

    async def _exchange(self, method: str, path: str, *, endpoint: str, params: dict[str, Any] | None = None,
                        json: Any = None, read: _Reader | None = None, reserve: int = 0) -> Any:
        """The one way a call reaches Zoho: the budget (blocks, minute window, in-flight slot), the
        token, and the retries. Returns the response it ended on, read; or, with `read`, what
        `read` made of a 2xx, consumed inside the call's slot (an image's bytes). `read` returns
        None to decline a 2xx (a JSON envelope where bytes were expected), which then comes back
        as a response.
        """
        org = self.organization_id

        async def try_once(attempts: Attempts) -> Any:
            await self._budget.acquire(org, reserve=reserve, max_wait=self._max_retry_wait)
            token = await self._tokens.get()
            async with self._budget.call_slot(org, max_wait=self._max_retry_wait):
                return await self._try_once(method, path, token, params=params, json=json, read=read,
                                            attempts=attempts, endpoint=endpoint)

        # Backoffs are slept outside the slot; a 429's wait is the organization's block, which
        # the next acquire waits out.
        return await call_with_retries(try_once, give_up=partial(_give_up, endpoint),
                                       on_retry=partial(_log_retry, endpoint))

    async def _try_once(self, method: str, path: str, token: AccessToken, *, params: dict[str, Any] | None,
                        json: Any, read: _Reader | None, attempts: Attempts, endpoint: str) -> Any:
        """One request and its verdict: what to return, or a Retry (or Wait). Raises what is final."""
        try:
            response = await self._send(method, path, token, params=params, json=json, stream=read is not None)
            try:
                return await self._judge(response, token, read=read, attempts=attempts, endpoint=endpoint)
            finally:
                await response.aclose()
        except httpx.TransportError as exc:  # before the answer or while its body streamed in
            VENDOR_REQUESTS.labels("zoho", endpoint, "network").inc()
            return Retry(self._failures, type(exc).__name__)

    async def _judge(self, response: httpx.Response, token: AccessToken, *, read: _Reader | None,
                     attempts: Attempts, endpoint: str) -> Any:
        VENDOR_REQUESTS.labels("zoho", endpoint, str(response.status_code)).inc()
        if read is not None and response.is_success:
            consumed = await read(response)
            if consumed is not None:
                return consumed
        await response.aread()  # an envelope or an error page: small
        status, code = response.status_code, _code_of(response)
        if status == 401 and not attempts.count(REFRESHED):
            # The cached token expired early or was revoked: drop it and retry once.
            await self._tokens.invalidate(token)
            return Retry(REFRESHED, "HTTP 401")
        if status == 429 or code in (CODE_RATE_MINUTE, CODE_DAILY_QUOTA, CODE_TOO_MANY_IN_FLIGHT):
            return await self._throttled(response, code, attempts, endpoint)
        if status >= 500:
            return Retry(self._failures, f"HTTP {status}")
        return response

    async def _send(self, method: str, path: str, token: AccessToken, *, params: dict[str, Any] | None,
                    json: Any, stream: bool = False) -> httpx.Response:
        base = self._override and api_domain_for(self._data_center, self._override)
        base = base or token.api_domain or api_domain_for(self._data_center, None)
        request = self._http.build_request(
            method, f"{base.rstrip('/')}{API_PATH}{path}", json=json,
            params={**(params or {}), "organization_id": self.organization_id},
            headers={"Authorization": f"Zoho-oauthtoken {token.value}"},
        )
        return await self._http.send(request, stream=stream)

    async def _throttled(self, response: httpx.Response, code: Any, attempts: Attempts,
                         endpoint: str) -> Retry | Wait:
        """A refusal for load. Too many calls in flight (1070) is this call's to retry soon; a
        spent day (45) pauses the run; any other 429 blocks the whole organization for its
        Retry-After, recorded before this call's slot is given back."""
        asked = retry_after_seconds(response)
        if code == CODE_DAILY_QUOTA:
            await self._daily_quota_spent(response, asked)
        if code == CODE_TOO_MANY_IN_FLIGHT:
            return Retry(CROWDED, "code 1070")
        wait = attempts.charge(Retry(RATE_WAITS, f"HTTP {response.status_code}", asked=asked))
        if (asked is not None and asked > self._max_retry_wait) or wait.seconds is None:
            if asked is not None:
                await self._budget.block(self.organization_id, seconds=asked)
            raise ZohoQuotaExhausted(
                f"Zoho is refusing calls (HTTP 429, Retry-After {asked if asked is not None else 'absent'}); "
                "the run is paused, resume it later", retry_after=asked, status=response.status_code, code=code,
            )
        log.warning("zoho.rate_limited", endpoint=endpoint, wait=round(wait.seconds, 2), attempt=wait.attempt)
        await self._budget.block(self.organization_id, seconds=wait.seconds)
        return replace(wait, seconds=0.0)

    async def _daily_quota_spent(self, response: httpx.Response, asked: float | None) -> None:
        """Code 45: the organization's daily calls are spent. Records the limit Zoho states and
        blocks the organization until the daily window turns, then raises ZohoQuotaExhausted."""
        message = _message_of(response)
        limit = _stated_limit(message)
        if limit is not None:
            await self._budget.record_daily_limit(self.organization_id, limit=limit)
        wait = daily_window_left(response, asked)
        await self._budget.block(self.organization_id, seconds=wait)
        raise ZohoQuotaExhausted(
            f"Zoho's daily API limit{f' of {limit} calls' if limit else ''} for organization "
            f"{self.organization_id} is spent ({message}); the run is paused until the daily window turns",
            retry_after=wait, status=response.status_code, code=CODE_DAILY_QUOTA,
        )


def _give_up(endpoint: str, wait: Wait) -> ZohoUnavailable:
    """A spent policy: failures (network errors, 5xx) or code 1070; 429s and 401s end elsewhere."""
    if wait.policy is CROWDED:
        return ZohoUnavailable(f"Zoho kept refusing {endpoint} for too many calls in flight (code 1070)")
    return ZohoUnavailable(f"Zoho did not answer {endpoint} after {wait.attempt} attempts ({wait.retry.reason})")


def _log_retry(endpoint: str, wait: Wait) -> None:
    if wait.policy is CROWDED:
        log.warning("zoho.too_many_in_flight", endpoint=endpoint, attempt=wait.attempt)
    elif wait.policy is not REFRESHED:
        log.warning("zoho.retry", endpoint=endpoint, attempt=wait.attempt, wait=round(wait.seconds or 0.0, 2),
                    reason=wait.retry.reason)


def daily_window_left(response: httpx.Response, asked: float | None) -> float:
    """Seconds until a spent daily quota (code 45) is worth trying again.

    Zoho's own word first: Retry-After, else X-Rate-Limit-Reset (reported to count down the
    daily quota). Without either, the start of the next day of our own daily counter (midnight
    UTC; why that is a guess: ratelimit.budget_day). A window that turns earlier only resumes
    the run later; one that turns later costs the resumed run one refused call.
    """
    if asked is not None:
        return asked
    reset = response.headers.get("x-rate-limit-reset", "")
    return float(reset) if reset.isdigit() and int(reset) > 0 else seconds_to_utc_midnight()


def format_zoho_time(moment: datetime) -> str:
    """Zoho wants a numeric offset (+0000); a literal trailing Z is rejected."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _is_json(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.lower().startswith("application/json")


def _no_image(response: httpx.Response, item_id: str) -> ZohoError:
    """What a read response that carries no image bytes means: usually ZohoImageUnavailable;
    auth and other request errors stay what they are for every call."""
    if response.is_success:  # JSON where bytes were expected: Zoho's own word, when it gives one
        try:
            body = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        message = body.get("message") or "a JSON answer instead of image bytes"
        return ZohoImageUnavailable(f"Zoho sent no image for item {item_id}: {message}",
                                    status=response.status_code, code=body.get("code"))
    try:
        _envelope(response)
    except ZohoNotFound as exc:
        return ZohoImageUnavailable(f"Zoho has no image for item {item_id}: {exc.message}", status=404, code=exc.code)
    except ZohoError as exc:
        return exc
    return ZohoImageUnavailable(f"Zoho answered HTTP {response.status_code} instead of the image of item {item_id}",
                                status=response.status_code)


def _code_of(response: httpx.Response) -> Any:
    """The envelope's `code` of a read response, None when it has none."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def _message_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or ""
    return str(body.get("message") or "") if isinstance(body, dict) else ""


def _stated_limit(message: str) -> int | None:
    """The daily call limit a code-45 message states, if it states one."""
    match = _STATED_LIMIT.search(message)
    return int(match.group(1).replace(",", "")) if match else None


def _envelope(response: httpx.Response) -> dict[str, Any]:
    """Check Zoho's envelope: `code` 0 is success, anything else an error, even on HTTP 200."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = body.get("code", 0 if response.status_code < 400 else None)
    if response.status_code < 400 and code == 0:
        return body
    message = str(body.get("message") or response.reason_phrase or "error")
    text = f"Zoho error {code}: {message} (HTTP {response.status_code})"
    if response.status_code in (401, 403):
        raise ZohoAuthError(text, status=response.status_code, code=code)
    if response.status_code == 404:
        raise ZohoNotFound(text, status=404, code=code)
    raise ZohoRequestError(text, status=response.status_code, code=code)
