"""Zoho Inventory API v1 client.

Every call: waits for the organization's shared budget, carries `Authorization:
Zoho-oauthtoken` and `organization_id`, checks the envelope's `code`, and retries what is worth
retrying. A 429 always waits (Retry-After when given, else capped backoff with jitter); a wait
longer than `max_retry_wait` is a quota block and raises `ZohoQuotaExhausted` so the run pauses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timezone
from typing import Any

import httpx
import structlog

from app.catalog.types import CatalogItem
from app.integrations.metrics import VENDOR_REQUESTS
from app.integrations.retry import backoff_seconds, retry_after_seconds
from app.integrations.zoho import automation
from app.integrations.zoho.datacenters import API_PATH, accounts_url_for, api_domain_for
from app.integrations.zoho.errors import (
    ZohoAuthError,
    ZohoError,
    ZohoImageUnavailable,
    ZohoNotFound,
    ZohoQuotaExhausted,
    ZohoRequestError,
    ZohoUnavailable,
)
from app.integrations.zoho.images import MAX_IMAGE_BYTES, DownloadedImage, read_image
from app.integrations.zoho.parse import parse_item
from app.integrations.zoho.ratelimit import IMAGE_RESERVE, ZohoBudget
from app.integrations.zoho.tokens import AccessToken, TokenManager

log = structlog.get_logger(__name__)

PER_PAGE = 200  # Zoho's default and, as far as any client has found, its maximum
DETAILS_CHUNK = 100  # ids per /itemdetails call (used by zoho-ts; Zoho documents no maximum)
MAX_RATE_WAITS = 30  # consecutive 429s sat out before the run is paused instead
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


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
    ) -> None:
        self.organization_id = organization_id
        self._budget = budget
        self._override = api_base_url
        self._data_center = data_center
        self._max_attempts = max_attempts
        self._max_retry_wait = max_retry_wait
        self._http = httpx.AsyncClient(timeout=TIMEOUT, transport=transport, headers={"User-Agent": "skubridge/0.1"})
        self._tokens = TokenManager(
            redis=redis, http=self._http, accounts_url=accounts_url_for(data_center, accounts_base_url),
            client_id=client_id, client_secret=client_secret, refresh_token=refresh_token,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "ZohoClient":
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

    async def get_group_items(self, group_id: str) -> list[CatalogItem]:
        """Every item of one item group, whatever its status (`GET /items?group_id=`)."""
        params: dict[str, Any] = {"group_id": group_id, "per_page": PER_PAGE, "filter_by": "Status.All",
                                  "sort_column": "created_time", "sort_order": "A"}
        items: dict[str, CatalogItem] = {}  # by id: an item created mid-scan must not appear twice
        page = 1
        while True:
            body = await self._get("/items", {**params, "page": page}, endpoint="GET /items")
            for row in body.get("items") or []:
                if isinstance(row, dict):
                    item = parse_item(row)
                    items[item.zoho_item_id] = item
            if not (body.get("page_context") or {}).get("has_more_page"):
                return list(items.values())
            page += 1

    async def download_item_image(self, item_id: str, *, max_bytes: int = MAX_IMAGE_BYTES) -> DownloadedImage:
        """The item's primary image as Zoho stores it (`GET /items/{item_id}/image`).

        ZohoImageUnavailable, with a reason to record against the item, when there is none to
        have: a 404 (no image, no such item, or an image Zoho cannot serve), a JSON answer where
        bytes were expected, an empty body, or more than `max_bytes` (refused while streaming).
        Bytes that are not an image are returned as they are; the optimiser refuses them.
        """
        response = await self._exchange("GET", f"/items/{item_id}/image", endpoint="GET /items/{item_id}/image",
                                        stream=True, reserve=IMAGE_RESERVE)
        try:
            if response.is_success and not _is_json(response):
                return await read_image(response, item_id=item_id, max_bytes=max_bytes)
            await response.aread()  # an envelope or an error page: small
        finally:
            await response.aclose()
        raise _no_image(response, item_id)

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
            await self._request("DELETE", f"/settings/workflows/{workflow_id}", endpoint="DELETE /settings/workflows/{id}")
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
                        json: Any = None, stream: bool = False, reserve: int = 0) -> httpx.Response:
        """One call through the budget, the token and the retries; the response it ended on.

        With `stream`, a 2xx comes back unread (the caller reads and closes it); every other
        response is read at once, as the envelope it carries is small and needed.
        """
        failures = rate_waits = 0
        refreshed = False
        while True:
            await self._budget.acquire(self.organization_id, reserve=reserve)
            token = await self._tokens.get()
            try:
                response = await self._send(method, path, token, params=params, json=json, stream=stream)
            except httpx.TransportError as exc:
                VENDOR_REQUESTS.labels("zoho", endpoint, "network").inc()
                failures += 1
                await self._after_failure(failures, endpoint, f"{type(exc).__name__}")
                continue
            VENDOR_REQUESTS.labels("zoho", endpoint, str(response.status_code)).inc()
            if stream and not response.is_success:
                await response.aread()
            status = response.status_code
            if status == 401 and not refreshed:
                # The cached token expired early or was revoked: drop it and retry once.
                await self._tokens.invalidate(token)
                refreshed = True
                continue
            if status == 429:
                rate_waits += 1
                await self._sit_out_429(response, rate_waits, endpoint)
                continue
            if status >= 500:
                failures += 1
                await self._after_failure(failures, endpoint, f"HTTP {status}")
                continue
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

    async def _sit_out_429(self, response: httpx.Response, waits: int, endpoint: str) -> None:
        asked = retry_after_seconds(response)
        if (asked is not None and asked > self._max_retry_wait) or waits > MAX_RATE_WAITS:
            raise ZohoQuotaExhausted(
                f"Zoho is refusing calls (HTTP 429, Retry-After {asked if asked is not None else 'absent'}); "
                "the run is paused, resume it later"
            )
        delay = asked if asked is not None else backoff_seconds(waits, base=1.0, cap=60.0)
        log.warning("zoho.rate_limited", endpoint=endpoint, wait=round(delay, 2), attempt=waits)
        await asyncio.sleep(delay)

    async def _after_failure(self, failures: int, endpoint: str, reason: str) -> None:
        if failures >= self._max_attempts:
            raise ZohoUnavailable(f"Zoho did not answer {endpoint} after {failures} attempts ({reason})")
        delay = backoff_seconds(failures, base=0.5, cap=30.0)
        log.warning("zoho.retry", endpoint=endpoint, attempt=failures, wait=round(delay, 2), reason=reason)
        await asyncio.sleep(delay)


def format_zoho_time(moment: datetime) -> str:
    """Zoho wants a numeric offset (+0000); a literal trailing Z is rejected."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _is_json(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").lower().startswith("application/json")


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
