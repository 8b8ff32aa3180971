"""WooCommerce REST API (wc/v3) client.

Auth follows the store's own rules: Basic `consumer_key:consumer_secret` over HTTPS; OAuth 1.0a
one-legged signing (oauthlib) over plain HTTP, where WooCommerce ignores Basic. Every call goes
through `_request`, which retries 429/5xx/timeouts with backoff and sorts errors into auth,
request and availability errors. Writes go through `/products/batch`.

`WooClient` is the WooCommerce adapter of the engine's `Store` port (app/ports/store.py): the
store's error codes become `WriteStatus` here, and nowhere else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx
import structlog

from app.catalog.types import ProductWrite, StoreProductRef, StoreSettings, WriteResult, WriteStatus
from app.integrations.metrics import VENDOR_REQUESTS
from app.integrations.pace import Pace
from app.integrations.retry import Attempts, Retry, RetryPolicy, Sleep, Wait, call_with_retries, retry_after_seconds
from app.integrations.targets import OPEN, TargetPolicy
from app.integrations.woocommerce.errors import (
    WooAuthError,
    WooBatchTimeout,
    WooError,
    WooRequestError,
    WooTargetRefused,
    WooUnavailable,
)
from app.integrations.woocommerce.fields import COMPARISON, flatten
from app.integrations.woocommerce.mapping import draft_to_wc
from app.integrations.woocommerce.oauth import OAuth1QueryAuth
from app.ports.store import Compare, Fields

log = structlog.get_logger(__name__)

API_PREFIX = "/wp-json/wc/v3"
BATCH_LIMIT = 100  # the store's default `woocommerce_rest_batch_items_limit`
PER_PAGE_MAX = 100
RETRYABLE_STATUS = {429, 500, 502, 503, 504}
# A proxy that gave up waiting for PHP (which may still be writing): the batch was too big.
GATEWAY_TIMEOUT_STATUS = {504, 524}
MAX_RATE_WAITS = 30  # consecutive 429s waited out before the call counts as failed
LOOKUP_FIELDS = "id,sku,type,parent_id,status"
# `include_status` with every post status a product can have, trash included (capture 00).
EVERY_STATUS = "draft,pending,private,publish,future,trash"
# Batches run every item in one PHP request; slow stores need minutes, not the 5 s of common clients.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
BATCH_TIMEOUT = httpx.Timeout(180.0, connect=10.0)
# The store's codes for the write outcomes the engine acts on.
INVALID_SKU = "product_invalid_sku"  # data.resource_id: the product holding the SKU
INVALID_ID = "woocommerce_rest_product_invalid_id"
INVALID_VARIATION_ID = "woocommerce_rest_product_variation_invalid_id"
TRASHED_SKU = "woocommerce_rest_product_not_created"  # "... lookup table": a trashed product holds it


class WooClient:
    comparison: dict[str, Compare] = COMPARISON

    def __init__(
        self,
        *,
        base_url: str,
        consumer_key: str,
        consumer_secret: str,
        verify_tls: bool = True,
        max_attempts: int = 5,
        backoff_cap: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        targets: TargetPolicy = OPEN,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.backoff_cap = backoff_cap
        # Set by a run's driver: batch sizes and strain follow the store's answers.
        self.pace: Pace | None = None
        self._http = httpx.AsyncClient(
            base_url=self.base_url + API_PREFIX,
            auth=_auth_for(self.base_url, consumer_key, consumer_secret),
            verify=verify_tls,
            timeout=DEFAULT_TIMEOUT,
            transport=transport or targets.transport(verify=verify_tls, refuse=WooTargetRefused),
            headers={"User-Agent": "skubridge/0.1"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> WooClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- reads -----------------------------------------------------------------------------

    async def get_store_settings(self) -> StoreSettings:
        """Units and the global manage-stock option (`GET /settings/products`)."""
        response = await self._request("GET", "/settings/products", endpoint="GET /settings/products")
        values = {row.get("id"): row.get("value") for row in response.json() if isinstance(row, dict)}
        return StoreSettings(
            weight_unit=str(values.get("woocommerce_weight_unit") or "kg"),
            dimension_unit=str(values.get("woocommerce_dimension_unit") or "cm"),
            manage_stock=str(values.get("woocommerce_manage_stock") or "yes") == "yes",
        )

    async def find_by_skus(self, skus: Iterable[str]) -> dict[str, StoreProductRef]:
        """Products and variations holding any of `skus`, keyed by lower-cased SKU.

        The store matches `sku=` exactly but case-insensitively and splits it on commas (no
        trimming), so SKUs are sent 100 to a request; a SKU that itself holds a comma cannot be
        sent that way and is searched alone with `search_sku`, then filtered exactly.
        """
        wanted = {s.lower(): s for s in skus if s}
        plain = [s for s in wanted.values() if "," not in s]
        found: dict[str, StoreProductRef] = {}
        for start in range(0, len(plain), PER_PAGE_MAX):
            chunk = plain[start : start + PER_PAGE_MAX]
            for row in await self._list_all({"sku": ",".join(chunk)}):
                _collect(found, row, wanted)
        for sku in (s for s in wanted.values() if "," in s):
            for row in await self._list_all({"search_sku": sku}):
                _collect(found, row, wanted)
        return found

    async def _list_all(self, params: dict[str, Any], *, fields: str | None = LOOKUP_FIELDS, path: str = "/products",
                        endpoint: str = "GET /products") -> list[dict[str, Any]]:
        """Every page of a product listing, following X-WP-TotalPages."""
        rows: list[dict[str, Any]] = []
        page, total_pages = 1, 1
        while page <= total_pages:
            query = {**params, "per_page": PER_PAGE_MAX, "page": page}
            if fields:
                query["_fields"] = fields
            response = await self._request("GET", path, params=query, endpoint=endpoint)
            rows.extend(r for r in response.json() if isinstance(r, dict))
            total_pages = int(response.headers.get("x-wp-totalpages") or 1)
            page += 1
        return rows

    # --- writes ----------------------------------------------------------------------------

    async def probe_write(self) -> None:
        """Prove write permission without writing: an empty `POST /products/batch`.

        WooCommerce refuses every non-GET request of a read-only key before any route runs
        (`check_user_permissions` on `rest_pre_dispatch`: 401 "The API key provided does not
        have write permissions"), and the batch route's own check wants the product write
        capability; a batch with no create, update or delete changes nothing and answers `[]`.
        """
        await self._request("POST", "/products/batch", json={}, endpoint="POST /products/batch")

    async def batch_products(
        self,
        *,
        creates: Sequence[ProductWrite] = (),
        updates: Sequence[ProductWrite] = (),
        settings: StoreSettings,
    ) -> list[WriteResult]:
        """Create and update products through `/products/batch`, 100 objects a call; one
        result per write."""
        return await self._batch("/products/batch", "POST /products/batch", creates, updates, settings)

    async def batch_variations(
        self,
        parent_id: int,
        *,
        creates: Sequence[ProductWrite] = (),
        updates: Sequence[ProductWrite] = (),
        settings: StoreSettings,
    ) -> list[WriteResult]:
        """Create and update one variable product's variations (`/products/{id}/variations/batch`)."""
        return await self._batch(f"/products/{parent_id}/variations/batch",
                                 "POST /products/{id}/variations/batch", creates, updates, settings,
                                 parent_id=parent_id)

    async def _batch(self, path: str, endpoint: str, creates: Sequence[ProductWrite],
                     updates: Sequence[ProductWrite], settings: StoreSettings, *,
                     parent_id: int | None = None) -> list[WriteResult]:
        """One result per write, each under its write's key, however many calls it takes."""
        writes = [("create", w) for w in creates] + [("update", w) for w in updates]
        results: dict[int, WriteResult] = {}
        size = min(BATCH_LIMIT, self.pace.size) if self.pace else BATCH_LIMIT
        for start in range(0, len(writes), size):
            await self._send_chunk(path, endpoint, writes[start : start + size], settings, results, parent_id)
        return [results[w.key] for _, w in writes]

    async def _send_chunk(self, path: str, endpoint: str, chunk: list[tuple[str, ProductWrite]],
                          settings: StoreSettings, results: dict[int, WriteResult], parent_id: int | None) -> None:
        """One batch call; a batch that timed out is split in two and retried, its creates
        looked up by SKU first (the store may have written them before the answer was lost)."""
        chunk_creates = [w for op, w in chunk if op == "create"]
        chunk_updates = [w for op, w in chunk if op == "update"]
        body: dict[str, Any] = {}
        if chunk_creates:
            body["create"] = [draft_to_wc(w.draft, settings=settings) for w in chunk_creates]
        if chunk_updates:
            body["update"] = [{"id": w.store_id, **draft_to_wc(w.draft, settings=settings)} for w in chunk_updates]
        started = time.monotonic()
        try:
            response = await self._request("POST", path, json=body, timeout=BATCH_TIMEOUT, endpoint=endpoint,
                                           split_on_timeout=len(chunk) > 1)
        except WooBatchTimeout:
            if self.pace:
                self.pace.timed_out(len(chunk))
            chunk = await self._found_creates(chunk, parent_id)
            half = (len(chunk) + 1) // 2
            log.warning("woocommerce.batch_split", endpoint=endpoint, objects=len(chunk), into=half)
            for part in (chunk[:half], chunk[half:]):
                await self._send_chunk(path, endpoint, part, settings, results, parent_id)
            return
        if self.pace:
            self.pace.answered(time.monotonic() - started)
        payload = response.json()
        for result in _match_results(chunk_creates, payload.get("create"), created=True, parent_id=parent_id) + \
                _match_results(chunk_updates, payload.get("update"), created=False, parent_id=parent_id):
            results[result.key] = result

    async def _found_creates(self, chunk: list[tuple[str, ProductWrite]],
                             parent_id: int | None) -> list[tuple[str, ProductWrite]]:
        """Creates whose SKU the store now holds (in the same place) become updates of it."""
        skus = [str(w.draft["sku"]) for op, w in chunk if op == "create" and w.draft.get("sku")]
        found = await self.find_by_skus(skus) if skus else {}
        redone = []
        for op, write in chunk:
            ref = found.get(str(write.draft.get("sku") or "").lower()) if op == "create" else None
            here = ref is not None and (ref.parent_id == parent_id if parent_id else ref.kind != "variation")
            redone.append(("update", ProductWrite(write.key, write.draft, store_id=ref.store_id)) if here and ref
                          else (op, write))
        return redone

    async def write_one(self, write: ProductWrite, *, parent_id: int | None, settings: StoreSettings) -> dict[str, Any]:
        """Update one product or variation outside a batch and return the store's record (used
        to learn the media id the store gave an image it downloaded from a `src` URL)."""
        path = f"/products/{parent_id}/variations/{write.store_id}" if parent_id else f"/products/{write.store_id}"
        endpoint = "PUT /products/{id}/variations/{id}" if parent_id else "PUT /products/{id}"
        response = await self._request("PUT", path, json=draft_to_wc(write.draft, settings=settings),
                                       timeout=BATCH_TIMEOUT, endpoint=endpoint)
        record: dict[str, Any] = response.json()
        return record

    async def get_products(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """Full records (`context=edit`: descriptions as stored) of products, 100 ids a call,
        trashed ones too (`status=any`, the default, leaves the trash out)."""
        rows: list[dict[str, Any]] = []
        for start in range(0, len(ids), PER_PAGE_MAX):
            chunk = ids[start : start + PER_PAGE_MAX]
            rows += await self._list_all({"include": ",".join(map(str, chunk)), "context": "edit",
                                          "include_status": EVERY_STATUS}, fields=None)
        return rows

    async def list_variations(self, parent_id: int) -> list[dict[str, Any]]:
        """Every variation of one variable product, full records, trashed ones too."""
        return await self._list_all({"context": "edit", "include_status": EVERY_STATUS}, fields=None,
                                    path=f"/products/{parent_id}/variations",
                                    endpoint="GET /products/{id}/variations")

    async def list_product_skus(self) -> list[tuple[int, str]]:
        """(id, SKU) of every product outside the trash (variations not included), 100 a call."""
        return [(int(r["id"]), str(r.get("sku") or "")) for r in await self._list_all({}, fields="id,sku")]

    async def adopt_image(self, url: str, *, store_id: int, parent_id: int | None,
                          settings: StoreSettings) -> int | None:
        """Have the store download `url` onto a product's gallery (or a variation's image) and
        read the media id it gave the picture from its answer."""
        if parent_id:
            record = await self.write_one(ProductWrite(0, {"kind": "variation", "image": {"src": url}},
                                                       store_id=store_id), parent_id=parent_id, settings=settings)
            media_id = (record.get("image") or {}).get("id")
        else:
            record = await self.write_one(ProductWrite(0, {"images": [{"src": url}]}, store_id=store_id),
                                          parent_id=None, settings=settings)
            media_id = ((record.get("images") or [{}])[0]).get("id")
        return int(media_id) if media_id else None

    def intended_fields(self, draft: dict[str, Any], *, settings: StoreSettings) -> Fields:
        return flatten(draft_to_wc(draft, settings=settings))

    async def current_fields(self, product_ids: Sequence[int], variations_of: Iterable[int]) -> dict[int, Fields]:
        """Products 100 a call, variations a parent at a time."""
        records = {int(p["id"]): p for p in await self.get_products(product_ids)} if product_ids else {}
        for parent_id in variations_of:
            records.update({int(v["id"]): v for v in await self.list_variations(parent_id)})
        return {store_id: flatten(record) for store_id, record in records.items()}

    # --- transport -------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        timeout: httpx.Timeout | None = None,
        split_on_timeout: bool = False,
    ) -> httpx.Response:
        """One API call through `send_with_retries`; the answer must be JSON."""
        response = await send_with_retries(
            self._http, method, path, endpoint=endpoint, max_attempts=self.max_attempts, backoff_cap=self.backoff_cap,
            params=params, json=json, timeout=timeout or DEFAULT_TIMEOUT, split_on_timeout=split_on_timeout,
            on_strain=self.pace.strained if self.pace else None,
        )
        return _require_json(response)


async def send_with_retries(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    endpoint: str,
    max_attempts: int,
    backoff_cap: float,
    max_rate_waits: int = MAX_RATE_WAITS,
    error_for: Callable[[httpx.Response], WooError] | None = None,
    giving_up: str = "store did not answer",
    split_on_timeout: bool = False,
    on_strain: Callable[[], None] | None = None,
    sleep: Sleep = asyncio.sleep,
    **request: Any,
) -> httpx.Response:
    """One request to the store, its first answer below 400.

    A 429 is waited out (it says "later", not "no") up to `max_rate_waits` times, then counts
    as a failure; 5xx and network errors are retried `max_attempts` times in all with backoff
    (Retry-After when given), no wait longer than `backoff_cap`.
    Any other error is raised at once as `error_for` types it (default `_error_for`).
    With `split_on_timeout`, a timeout (or a gateway's 504) raises `WooBatchTimeout` at once:
    the caller sends the batch again in smaller parts rather than the same size again.
    `on_strain` hears of every 429 and 5xx.
    """
    failures = RetryPolicy(max_attempts, wait_cap=backoff_cap)
    rate_waits = RetryPolicy(max_rate_waits + 1, wait_cap=backoff_cap, then=failures)

    async def try_once(_: Attempts) -> httpx.Response | Retry:
        try:
            response = await http.request(method, path, **request)
        except httpx.TransportError as exc:
            VENDOR_REQUESTS.labels("woocommerce", endpoint, "network").inc()
            if split_on_timeout and isinstance(exc, httpx.TimeoutException):
                raise WooBatchTimeout(f"the store did not answer in time ({type(exc).__name__})") from exc
            return Retry(failures, f"{type(exc).__name__}: {exc}".rstrip(": "))
        VENDOR_REQUESTS.labels("woocommerce", endpoint, str(response.status_code)).inc()
        if response.status_code < 400:
            return response
        error = (error_for or _error_for)(response)
        if not isinstance(error, WooUnavailable):
            raise error
        if split_on_timeout and response.status_code in GATEWAY_TIMEOUT_STATUS:
            raise WooBatchTimeout(f"HTTP {response.status_code}: {error.message}")
        if on_strain:
            on_strain()
        return Retry(rate_waits if response.status_code == 429 else failures,
                     f"HTTP {response.status_code}: {error.message}", asked=retry_after_seconds(response))

    def give_up(wait: Wait) -> WooUnavailable:
        return WooUnavailable(f"{giving_up} after {wait.attempt} attempts ({wait.retry.reason})")

    def on_retry(wait: Wait) -> None:
        log.warning("woocommerce.retry", endpoint=endpoint, attempt=wait.attempt, wait=round(wait.seconds or 0.0, 2),
                    reason=wait.retry.reason)

    return await call_with_retries(try_once, give_up=give_up, on_retry=on_retry, sleep=sleep)


def _auth_for(base_url: str, key: str, secret: str) -> httpx.Auth:
    # WooCommerce only tries Basic auth when it sees HTTPS; plain HTTP needs OAuth 1.0a.
    if base_url.startswith("https://"):
        return httpx.BasicAuth(key, secret)
    return OAuth1QueryAuth(key, secret)


def _collect(found: dict[str, StoreProductRef], row: dict[str, Any], wanted: dict[str, str]) -> None:
    sku = str(row.get("sku") or "")
    if sku.lower() not in wanted:
        return
    found[sku.lower()] = StoreProductRef(
        store_id=int(row["id"]),
        sku=sku,
        kind=str(row.get("type") or "simple"),
        parent_id=int(row["parent_id"]) if row.get("parent_id") else None,
        status=str(row.get("status") or ""),
    )


def _match_results(writes: Sequence[ProductWrite], results: Any, *, created: bool,
                   parent_id: int | None) -> list[WriteResult]:
    """Each write's result, keyed by the write. Within one of the batch's lists the store
    answers in input order and a failed create carries id 0, so within a list, match by index."""
    results = results if isinstance(results, list) else []
    matched: list[WriteResult] = []
    for index, write in enumerate(writes):
        row = results[index] if index < len(results) and isinstance(results[index], dict) else None
        if row is None:
            matched.append(WriteResult(write.key, WriteStatus.REFUSED, error_code="missing_result",
                                       error_message="the store answered without a result for this item"))
        elif isinstance(row.get("error"), dict):
            matched.append(_refusal(write, row["error"], parent_id=parent_id))
        else:
            matched.append(WriteResult(write.key, WriteStatus.CREATED if created else WriteStatus.UPDATED,
                                       store_id=int(row["id"])))
    return matched


def _refusal(write: ProductWrite, error: dict[str, Any], *, parent_id: int | None) -> WriteResult:
    """The store's refusal of one write, in the engine's words, its code and message kept."""
    code, message = str(error.get("code")), str(error.get("message"))
    data = error.get("data")
    status, held_by = WriteStatus.REFUSED, None
    if code == INVALID_SKU and isinstance(data, dict) and (held_by := _positive_id(data.get("resource_id"))):
        status = WriteStatus.DUPLICATE_SKU
    elif code == (INVALID_VARIATION_ID if parent_id is not None else INVALID_ID):
        status = WriteStatus.GONE
    elif code == TRASHED_SKU and "lookup table" in message:
        status = WriteStatus.TRASHED_SKU
    return WriteResult(write.key, status, store_id=write.store_id, error_code=code, error_message=message,
                       held_by=held_by)


def _positive_id(value: Any) -> int | None:
    return int(value) if isinstance(value, int | str) and str(value).isdigit() and int(value) > 0 else None


def _require_json(response: httpx.Response) -> httpx.Response:
    try:
        response.json()
    except ValueError as exc:
        raise WooRequestError(
            f"the store answered {response.status_code} with a body that is not JSON "
            "(are pretty permalinks enabled and is the base URL the WordPress site?)",
            status=response.status_code,
        ) from exc
    return response


def _error_for(response: httpx.Response) -> WooError:
    """Turn an error response (JSON or the HTML of a PHP fatal) into a typed error."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "code" in body:
        code, message = str(body.get("code")), str(body.get("message") or "")
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
    else:
        code, message, data = None, (response.text or "")[:200].strip() or response.reason_phrase, {}
    kind: type[WooError]
    if response.status_code in (401, 403):
        kind = WooAuthError
    elif response.status_code in RETRYABLE_STATUS:
        kind = WooUnavailable
    else:
        kind = WooRequestError
    return kind(f"{code}: {message}" if code else message, status=response.status_code, code=code, data=data)
