"""State of the Zoho Inventory simulator: pure Python, no HTTP.

`ZohoState` holds one organization's catalogue, the OAuth clients and tokens, the webhook and
workflow settings, the rate-limit windows, the fault-injection knobs and the request counters.
Every decision the simulated API makes (is this token live, is the org known, is the caller over
its limit, what does page 3 of the items list hold) is taken here and either returns plain dicts
or raises `SimError` carrying the HTTP status, the Zoho envelope and headers. `app.py` only turns
those into HTTP responses, so the behaviour can be read, and tested, without a server.

All public methods take a lock: the server's event loop and a test thread may touch the same
state (a test can call `state.upsert_items(...)` directly while the server runs).

Webhooks are really delivered. Creating or editing an item (`upsert_items`, `patch_item`,
`set_image`, `touch_item`, and the control routes on top of them) runs every active item workflow
whose rule type matches the event; each webhook action becomes a signed HTTP request queued on a
`webhooks.DeliveryWorker` thread (started on first use), logged in `deliveries` and retried as the
`webhook_*` knobs say. The control call never waits for it; tests use `wait_for_deliveries`.

Uncertain vendor facts
----------------------
The research notes (shared/reference/zoho-api.md) leave these open; the simulator picks the most
plausible behaviour, and every choice lives in this module so it is easy to change:

- Error codes. 401 with code 57 "You are not authorized to perform this operation" for a missing,
  unknown *or expired* token (Zoho may use another code, e.g. 14, for expiry). Missing or unknown
  `organization_id` → HTTP 400 code 6041. Bad parameter values → HTTP 400 code 2 "Invalid value
  passed for <param>". Missing item/group/webhook → HTTP 404 code 1002 "<Thing> does not exist."
  Unknown URL → 404 code 5 "Invalid URL Passed". Rate limits: per minute → 429 code 44, per day →
  429 code 45 (from a Zoho Invoice document, not an Inventory page), its message stating the
  limit in Zoho Books' words ("... exceeded the maximum call rate limit of N."; the start of the
  sentence is a guess). Internal error → 500 code 1000.
- Concurrency (`concurrency_limit` knob, off by default): a call arriving while that many are in
  flight → 429 code 1070 (Books' code for too many concurrent calls). The message and whether
  Zoho sends a Retry-After with it are unknown: "Too many concurrent requests." and none here.
  A call counts as in flight from its arrival until its response is sent; refused calls never
  count, and they are not counted in `requests` either (`concurrency_refused` counts them).
- `Authorization` must use the `Zoho-oauthtoken` scheme; `Bearer` is refused, so a client that
  sends the wrong scheme fails here rather than in production.
- `organization_id` is required on every call; Zoho may fall back to the user's default org.
- Token endpoint: client checked first (`invalid_client`), then the refresh token (`invalid_code`,
  also when the token belongs to another client), then the throttle. The throttle is a sliding
  window of issued tokens; denied requests do not count. Other grant types →
  `{"error":"unsupported_grant_type"}`. The authorization-code grant, the consent page and the
  20-refresh-tokens cap: simulators/zoho/consent.py.
- `last_modified_time` accepts only `yyyy-MM-ddTHH:mm:ss±HHMM`; a `Z`, a colon offset or a space
  (an unencoded `+`) is a 400. Comparison is strictly-after at whole seconds, and stored times are
  whole seconds, so what a client reads back is exactly what is compared.
- `per_page` above 200 is clamped to 200 (no official maximum was found); below 1 becomes 1.
- `/itemdetails` with more than 100 ids → 400 code 2 (the maximum is undocumented).
- Detail (`/items/{id}`, `/itemdetails`) nests dimensions in `package_details` and does not repeat
  the flat `length`/`weight`/... keys of list rows; `documents[]` is a list of objects.
- Per-location stock: `locations[]` and `warehouses[]` mirror the same numbers. When stock totals
  are set through the control API without per-location figures, all of it goes to the primary
  location; a missing `available_stock` follows `stock_on_hand`, and a missing
  `actual_available_stock` keeps the committed quantity (floored at 0).
- Rate limits: one sliding 60 s window per organization; rejected calls do not use up the window.
  `X-Rate-Limit-*` headers describe that window (Zoho's reportedly describe the daily quota). The
  daily cap resets at midnight in the org's offset. `Retry-After` is the seconds until the window
  frees a slot (or until midnight for the daily cap) unless the knob fixes or disables it.
- Images: `GET /items/{id}/image` serves the stored bytes verbatim (empty, text or truncated ones
  too) with the content type of the item's `image_type`. An item without an image, and one whose
  image is listed but cannot be served (`broken_images` knob), both answer 404 code 1002 "Image
  does not exist." (a guess: Zoho's real answer for either is undocumented).
- Item groups: derived from the items that carry a `group_id`; the group's description is the
  most common description among its items, its image that of its first item with an image.
- Webhooks and workflows answer HTTP 201 on create; `url` is the only required webhook field.
  `method` defaults to POST and must be POST, PUT or DELETE (Books v3's list), else 400 code 2.
  A `secret`, when non-empty, must be 12-50 ASCII letters or digits (Books v3), else 400 code 2.
  The secret is never returned, by create or by the lists: Zoho's UI does not show it again, and
  no documented response carries it.
- A workflow whose webhook action names an unknown webhook → 400 code 2. Deleting a webhook that
  a workflow still uses → 400 code 1040 (both the refusal and the code are guesses; Zoho may
  instead delete the action, or the rule). Unknown webhook/workflow ids → 404 code 1002.
- What fires: workflows with `entity` "item" or "items" and `rule_type` add (creation), edit, or
  add_or_edit / created_or_edited (both). Rule criteria (`rule`, selected fields) and date-based
  rules are stored but never evaluated: every create/edit fires, even one that changes nothing.
  Bulk loads (`replace_items`, `generate_catalogue`, `reset`) and deletions fire nothing.
- The request: the webhook's method to its url, `query_parameters` appended to any query already
  in the url, its custom `headers` then `Content-Type: application/json` and, with a secret,
  `X-Zoho-Webhook-Signature` (those two override same-named custom headers). The body is always
  `{"item": <GET /items/{id} detail at the time of the event>}`, compact JSON in UTF-8 without
  ASCII escapes; `body_type`, `raw_data` and `form_data` are kept but not applied.
- Signature: hex HMAC-SHA256 keyed by the secret over every query pair of the final url, sorted
  by name (a stable sort: repeated names keep their order), name then value with no separators,
  then the raw body (Zoho Billing's recipe; hex as third parties report for Inventory).
- Delivery: one worker sends everything in order (Zoho's concurrency is unknown). 2xx is
  delivered; network errors, timeouts (10 s), 429 and 5xx are retried `webhook_retries` times,
  `webhook_retry_delay_ms` apart, then given up; 3xx and other 4xx fail at once (redirects are not
  followed). Zoho's real retry policy for Inventory is undocumented.
"""

from __future__ import annotations

import base64
import bisect
import copy
import functools
import itertools
import math
import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from simulators.zoho import catalogue, webhooks
from simulators.zoho.catalogue import (
    DEFAULT_LOCATIONS,
    DEMO_CREDENTIALS,
    format_zoho_time,
    offset_to_tz,
    parse_loose_time,
    parse_zoho_time,
)
from simulators.zoho.consent import Consent
from simulators.zoho.webhooks import (
    AttemptReport,
    DeliveryJob,
    DeliveryPolicy,
    DeliveryWorker,
    OutboundRequest,
)

# --------------------------------------------------------------------------- codes and limits

CODE_INVALID_VALUE = 2
CODE_INVALID_URL = 5
CODE_RATE_MINUTE = 44
CODE_RATE_DAY = 45
CODE_NOT_AUTHORIZED = 57
CODE_INTERNAL = 1000
CODE_NOT_FOUND = 1002
CODE_TOO_MANY_IN_FLIGHT = 1070
CODE_ORGANIZATION = 6041
CODE_WEBHOOK_IN_USE = 1040  # invented: no Zoho source gives this refusal's code

MSG_NOT_AUTHORIZED = "You are not authorized to perform this operation"
MSG_RATE_MINUTE = "You have made too many requests in a minute. Please try again after some time."
MSG_RATE_DAY = "You have exceeded the maximum call rate limit of {limit}."
MSG_TOO_MANY_IN_FLIGHT = "Too many concurrent requests."
MSG_TOKEN_THROTTLED = "You have made too many requests continuously. Please try again after some time."

MAX_PER_PAGE = 200
MAX_ITEMDETAILS_IDS = 100
RATE_WINDOW_SECONDS = 60
AUTH_SCHEME = "zoho-oauthtoken"

NEW_ITEM_ID_BASE = 4815000000700000
NEW_DOCUMENT_ID_BASE = 4815000000800000
WEBHOOK_ID_BASE = 4815000000900000
WORKFLOW_ID_BASE = 4815000000950000

STOCK_FIELDS = ("stock_on_hand", "available_stock", "actual_available_stock")
DIMENSION_FIELDS = ("length", "width", "height", "weight", "weight_unit", "dimension_unit")
_ATTRIBUTE_PREFIXES = (
    "attribute_id", "attribute_name", "attribute_type",
    "attribute_option_id", "attribute_option_name", "attribute_option_data",
)
ATTRIBUTE_FIELDS = tuple(f"{p}{slot}" for slot in (1, 2, 3) for p in _ATTRIBUTE_PREFIXES)

#: Fields of a `GET /items` row (§2.1 of the notes) with the value Zoho shows when unset.
LIST_ROW_DEFAULTS: dict[str, Any] = {
    "item_id": "", "name": "", "item_name": "", "unit": "pcs", "status": "active", "source": "user",
    "is_linked_with_zohocrm": False, "zcrm_product_id": "", "item_type": "inventory",
    "product_type": "goods", "is_combo_product": False, "is_returnable": True, "sku": "",
    "description": "", "purchase_description": "", "rate": 0, "purchase_rate": 0,
    "tax_id": "", "tax_name": "", "tax_percentage": 0,
    "account_id": catalogue.SALES_ACCOUNT_ID, "account_name": "Sales",
    "purchase_account_id": catalogue.PURCHASE_ACCOUNT_ID, "purchase_account_name": "Cost of Goods Sold",
    "stock_on_hand": 0, "available_stock": 0, "actual_available_stock": 0, "reorder_level": "",
    "group_id": "", "group_name": "", **{name: "" for name in ATTRIBUTE_FIELDS},
    "length": "", "width": "", "height": "", "weight": "", "weight_unit": "kg", "dimension_unit": "cm",
    "image_name": "", "image_type": "", "image_document_id": "", "has_attachment": False,
    "upc": "", "ean": "", "isbn": "", "part_number": "", "brand": "", "manufacturer": "",
    "created_time": "", "last_modified_time": "",
}

#: Extra fields of `GET /items/{id}` (§2.2); flat dimension keys are replaced by package_details.
DETAIL_EXTRA_DEFAULTS: dict[str, Any] = {
    "unit_id": "", "can_be_sold": True, "can_be_purchased": True, "track_inventory": True,
    "is_taxable": True, "tax_type": "", "inventory_account_id": catalogue.INVENTORY_ACCOUNT_ID,
    "inventory_account_name": "Inventory Asset", "category_id": "", "category_name": "",
    "vendor_id": "", "vendor_name": "", "preferred_vendors": [], "hsn_or_sac": "",
    "initial_stock": 0, "initial_stock_rate": 0, "minimum_order_quantity": "",
    "maximum_order_quantity": "", "custom_fields": [], "tags": [], "sales_channels": [],
}

# Computed on output; ignored when posted to the control API.
_DERIVED_FIELDS = {"item_name", "has_attachment", "documents", "image_id", "pricebook_rate", "sales_rate",
                   "committed_stock", "available_for_sale_stock", "custom_field_hash"}
_THIN_ROW_OMITS = ("description", *DIMENSION_FIELDS)

_SORT_COLUMNS = ("name", "sku", "rate", "purchase_rate", "created_time", "last_modified_time",
                 "reorder_level", "stock_on_hand")
_IMAGE_SIGNATURES = ((b"\x89PNG", "png"), (b"\xff\xd8", "jpg"), (b"GIF8", "gif"), (b"BM", "bmp"))


# --------------------------------------------------------------------------- errors


class SimError(Exception):
    """A simulated Zoho failure: HTTP status, body (usually the envelope) and headers."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    @classmethod
    def envelope(cls, status: int, code: int, message: str, headers: Mapping[str, str] | None = None) -> SimError:
        return cls(status, {"code": code, "message": message}, headers)


def invalid_value(param: str) -> SimError:
    return SimError.envelope(400, CODE_INVALID_VALUE, f"Invalid value passed for {param}")


def not_found(thing: str) -> SimError:
    return SimError.envelope(404, CODE_NOT_FOUND, f"{thing} does not exist.")


# --------------------------------------------------------------------------- knobs


@dataclass
class ZohoKnobs:
    """Behaviour switches, changeable at runtime (`PUT /__sim__/config` → `ZohoState.update_knobs`).

    `retry_after_seconds`: "auto" sends the seconds until the limit frees up, an int sends that
    fixed value, None sends no Retry-After (Zoho sometimes omits it).

    Webhook delivery: `webhook_retries` more tries after a failed one, `webhook_retry_delay_ms`
    apart; `webhook_latency_ms` before each delivery; `webhook_timeout_seconds` per attempt.

    `broken_images`: ids of items that keep their image fields (listed, with a document id) but
    whose `GET /items/{id}/image` fails as if the image were missing.

    `throttle_every`: every n-th API call (counted after the token and organization checks) is
    answered 429 code 44 with `Retry-After: retry_after_seconds` (1 when that knob is "auto",
    none when it is None). `concurrency_limit`: calls in flight at once before code 1070.
    """

    latency_ms: float = 0.0
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    fail_next: list[dict[str, Any]] = field(default_factory=list)
    token_ttl: int = 3600
    token_limit: int = 10
    token_window_seconds: int = 600
    rate_limit_per_minute: int | None = 100
    retry_after_seconds: int | str | None = "auto"
    daily_limit: int | None = None
    list_rows_full: bool = True
    time_offset: str = "+0000"
    seed: int = 1
    webhook_retries: int = 2
    webhook_retry_delay_ms: float = 200.0
    webhook_latency_ms: float = 0.0
    webhook_timeout_seconds: float = 10.0
    broken_images: list[str] = field(default_factory=list)
    throttle_every: int | None = None
    concurrency_limit: int | None = None
    # Sign-in (simulators/zoho/consent.py): the `location` this server's consent reports, the
    # base URL of the simulator that is this user's own DC (consent is forwarded there), the
    # redirect URIs accepted (empty: any http(s) URI), refresh tokens kept per client, and
    # organizations listed by GET /organizations besides the simulated one.
    oauth_location: str = "us"
    oauth_home_dc: str | None = None
    redirect_uris: list[str] = field(default_factory=list)
    refresh_token_cap: int = 20
    extra_organizations: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return copy.deepcopy(asdict(self))

    def update(self, changes: Mapping[str, Any]) -> None:
        """Validate every change first, then apply them all (a bad key changes nothing)."""
        checked = {name: _check_knob(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            setattr(self, name, value)


_KNOB_NAMES = {f.name for f in fields(ZohoKnobs)}


def _check_knob(name: str, value: Any) -> Any:
    """The validated value for one knob; ValueError names the knob and the problem."""
    if name not in _KNOB_NAMES:
        raise ValueError(f"unknown knob {name!r}; known: {sorted(_KNOB_NAMES)}")
    if name in ("rate_429", "rate_5xx"):
        return _number(name, value, low=0.0, high=1.0)
    if name in ("latency_ms", "webhook_retry_delay_ms", "webhook_latency_ms"):
        return _number(name, value, low=0.0)
    if name == "webhook_timeout_seconds":
        return _number(name, value, low=0.001)
    if name in ("token_ttl", "token_limit", "token_window_seconds", "seed", "webhook_retries"):
        return int(_number(name, value, low=0))
    if name in ("rate_limit_per_minute", "daily_limit", "throttle_every", "concurrency_limit"):
        return None if value is None else int(_number(name, value, low=1))
    if name == "retry_after_seconds":
        return value if value in (None, "auto") else int(_number(name, value, low=0))
    if name == "broken_images":
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            raise ValueError("broken_images must be a list of item ids")
        return [str(v) for v in value]
    if name in ("oauth_location", "oauth_home_dc", "redirect_uris", "extra_organizations", "refresh_token_cap"):
        return _check_sign_in_knob(name, value)
    if name == "list_rows_full":
        if not isinstance(value, bool):
            raise ValueError("list_rows_full must be true or false")
        return value
    if name == "time_offset":
        offset_to_tz(str(value))
        return str(value)
    return _check_faults(value)


def _check_sign_in_knob(name: str, value: Any) -> Any:
    if name == "refresh_token_cap":
        return int(_number(name, value, low=1))
    if name == "oauth_location" and isinstance(value, str) and value:
        return value
    if name == "oauth_home_dc" and (value is None or (isinstance(value, str) and value.startswith("http"))):
        return value.rstrip("/") if value else None
    if name == "redirect_uris" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if name == "extra_organizations" and isinstance(value, list) and all(
            isinstance(v, dict) and isinstance(v.get("organization_id"), str) and isinstance(v.get("name"), str)
            for v in value):
        return copy.deepcopy(value)
    raise ValueError(f"{name} has the wrong shape (see ZohoKnobs)")


def _number(name: str, value: Any, *, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be between {low} and {high if high is not None else 'inf'}")
    return value


def _check_faults(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(f, dict) for f in value):
        raise ValueError("fail_next must be a list of {status, body, headers, path_contains}")
    for fault in value:
        if not isinstance(fault.get("status", 500), int):
            raise ValueError("fail_next[].status must be an int")
    return copy.deepcopy(value)


# --------------------------------------------------------------------------- records


@dataclass
class AccessToken:
    token: str
    refresh_token: str
    expires_at: float


@dataclass
class StoredItem:
    """One item: Zoho-named fields plus what is kept apart (per-location stock, times, image)."""

    fields: dict[str, Any]
    stock: list[dict[str, Any]]  # one dict per location, `location_*` keys
    created: int
    modified: int
    image: bytes | None = None  # None while the item has no image, or one not rendered yet

    @property
    def item_id(self) -> str:
        return self.fields["item_id"]

    def total(self, name: str) -> int | float:
        return sum(entry[f"location_{name}"] for entry in self.stock)


P = ParamSpec("P")
R = TypeVar("R")


def _locked(method: Callable[P, R]) -> Callable[P, R]:
    """Run a ZohoState method under the state's lock."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with args[0]._lock:  # type: ignore[attr-defined]
            return method(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------- the state


class ZohoState:
    """One simulated Zoho organization with its catalogue, OAuth clients and behaviour knobs.

    `clients` maps client_id → client_secret; `refresh_tokens` maps refresh token → client_id.
    Both default to the demo credentials. `clock` returns epoch seconds (inject one in tests).
    `api_domain`, when given, is returned by the token endpoint instead of the request's base URL.
    """

    def __init__(
        self,
        *,
        items: Iterable[Mapping[str, Any]] | None = None,
        knobs: ZohoKnobs | None = None,
        organization_id: str = DEMO_CREDENTIALS.organization_id,
        organization_name: str = "Skubridge Demo Org",
        clients: Mapping[str, str] | None = None,
        refresh_tokens: Mapping[str, str] | None = None,
        locations: Iterable[Mapping[str, Any]] = DEFAULT_LOCATIONS,
        api_domain: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.RLock()
        self.clock = clock
        self.organization_id = organization_id
        self.organization_name = organization_name
        self.api_domain = api_domain
        self.locations = [dict(loc) for loc in locations]
        # Shallow copies suffice: ingestion never mutates a payload's nested values.
        self._initial_items = [dict(item) for item in items or ()]
        self._initial_knobs = copy.deepcopy(knobs or ZohoKnobs())
        self._initial_clients = dict(clients or {DEMO_CREDENTIALS.client_id: DEMO_CREDENTIALS.client_secret})
        self._initial_refresh = dict(refresh_tokens or {DEMO_CREDENTIALS.refresh_token: DEMO_CREDENTIALS.client_id})
        # Signalled whenever a delivery finishes or the log is reset (see wait_for_deliveries).
        self._deliveries_changed = threading.Condition(self._lock)
        self._worker: DeliveryWorker | None = None  # started by the first delivery
        self._generation = 0  # bumped by reset(), so jobs queued before it are dropped
        self.reset()

    # ----------------------------------------------------------------- lifecycle

    @_locked
    def reset(self) -> None:
        """Back to the state as constructed: catalogue, knobs, clients; no tokens, stats, webhooks,
        workflows or deliveries (queued deliveries are dropped, one in flight is not logged)."""
        self.knobs = copy.deepcopy(self._initial_knobs)
        self.rng = random.Random(self.knobs.seed)
        self.clients = dict(self._initial_clients)
        self.refresh_tokens = dict(self._initial_refresh)
        self.access_tokens: dict[str, AccessToken] = {}
        self._token_issues: dict[str, deque[float]] = {}
        self.consent = Consent(self)
        self._minute_windows: dict[str, deque[float]] = {}
        self._daily_counts: dict[str, tuple[str, int]] = {}
        self._calls_admitted = 0  # for `throttle_every`
        self._in_flight = 0
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.workflows: dict[str, dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []
        self._requests_sent: list[OutboundRequest] = []  # parallel to `deliveries`, for replays
        self._deliveries_finished = 0
        self._generation += 1
        self._deliveries_changed.notify_all()
        self._next_ids = {"item": NEW_ITEM_ID_BASE, "document": NEW_DOCUMENT_ID_BASE,
                          "webhook": WEBHOOK_ID_BASE, "workflow": WORKFLOW_ID_BASE}
        self.reset_stats()
        self.replace_items(self._initial_items)

    @_locked
    def reset_stats(self) -> None:
        self.requests: Counter[str] = Counter()
        self.tokens_by_refresh_token: Counter[str] = Counter()
        self.tokens_issued = 0
        self.throttled = 0
        self.token_throttled = 0
        self.injected_faults = 0
        self.webhooks_delivered = 0
        self.webhooks_failed = 0
        self.concurrency_refused = 0
        self.max_in_flight = 0
        # Arrival moments (the state's clock) of API calls, and the Retry-After windows of 429s
        # as (answered at, answered at + Retry-After): a client honouring Retry-After sends
        # nothing that arrives inside one.
        self.arrivals: list[float] = []
        self.retry_windows: list[tuple[float, float]] = []

    @_locked
    def stats(self) -> dict[str, Any]:
        """Counters since the last reset; request keys are "METHOD /route/{template}"."""
        return {
            "requests": dict(self.requests),
            "tokens_issued": self.tokens_issued,
            "tokens_by_refresh_token": dict(self.tokens_by_refresh_token),
            "throttled": self.throttled,
            "token_throttled": self.token_throttled,
            "injected_faults": self.injected_faults,
            "webhooks_delivered": self.webhooks_delivered,
            "webhooks_failed": self.webhooks_failed,
            "concurrency_refused": self.concurrency_refused,
            "max_in_flight": self.max_in_flight,
            "codes_exchanged": self.consent.codes_exchanged,
            "arrivals_inside_retry_windows": len(self.arrivals_inside_retry_windows()),
        }

    @_locked
    def record_request(self, key: str) -> None:
        self.requests[key] += 1
        self.arrivals.append(self.now())

    @_locked
    def arrivals_inside_retry_windows(self) -> list[float]:
        """Arrivals that came after a 429 was answered and before its Retry-After had passed."""
        windows = sorted(self.retry_windows)
        starts = [start for start, _ in windows]
        ends = list(itertools.accumulate((end for _, end in windows), max))  # latest end so far
        inside = []
        for t in self.arrivals:
            n = bisect.bisect_left(starts, t)  # windows that started strictly before t
            if n and t < ends[n - 1]:
                inside.append(t)
        return inside

    @_locked
    def enter_call(self) -> SimError | None:
        """Count a call in flight, or the 1070 refusal when `concurrency_limit` are already."""
        limit = self.knobs.concurrency_limit
        if limit is not None and self._in_flight >= limit:
            self.arrivals.append(self.now())
            self.concurrency_refused += 1
            self.throttled += 1
            return SimError.envelope(429, CODE_TOO_MANY_IN_FLIGHT, MSG_TOO_MANY_IN_FLIGHT)
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        return None

    @_locked
    def leave_call(self) -> None:
        self._in_flight -= 1

    @_locked
    def update_knobs(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Partial knob update (ValueError on a bad name or value); a new seed reseeds the RNG."""
        self.knobs.update(changes)
        if "seed" in changes:
            self.rng = random.Random(self.knobs.seed)
        return self.knobs.as_dict()

    def now(self) -> float:
        return self.clock()

    # ----------------------------------------------------------------- OAuth (accounts server)

    @_locked
    def issue_token(self, params: Mapping[str, str], *, api_domain: str) -> tuple[int, dict[str, Any]]:
        """The token endpoint: (HTTP status, body). Bad credentials are HTTP 200 with `error`."""
        if params.get("grant_type") == "authorization_code":
            return 200, self.consent.exchange(params, api_domain=api_domain or self.api_domain or "")
        if params.get("grant_type") != "refresh_token":
            return 200, {"error": "unsupported_grant_type"}
        client_id, refresh = params.get("client_id", ""), params.get("refresh_token", "")
        if client_id not in self.clients or self.clients[client_id] != params.get("client_secret"):
            return 200, {"error": "invalid_client"}
        if self.refresh_tokens.get(refresh) != client_id:
            return 200, {"error": "invalid_code"}
        if not self._token_allowed(refresh):
            self.token_throttled += 1
            return 400, {"error": "Access Denied", "error_description": MSG_TOKEN_THROTTLED, "status": "failure"}
        return 200, self._new_access_token(refresh, api_domain or self.api_domain or "")

    def _token_allowed(self, refresh: str) -> bool:
        issued = self._token_issues.setdefault(refresh, deque())
        horizon = self.now() - self.knobs.token_window_seconds
        while issued and issued[0] <= horizon:
            issued.popleft()
        return len(issued) < self.knobs.token_limit

    def issue_access_token(self, refresh: str, api_domain: str) -> dict[str, Any]:
        """A new access token for `refresh` (a code exchange's first one)."""
        self._token_allowed(refresh)
        return self._new_access_token(refresh, api_domain)

    def _new_access_token(self, refresh: str, api_domain: str) -> dict[str, Any]:
        token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        now = self.now()
        self.access_tokens[token] = AccessToken(token, refresh, now + self.knobs.token_ttl)
        self._token_issues[refresh].append(now)
        self.tokens_issued += 1
        self.tokens_by_refresh_token[refresh] += 1
        return {"access_token": token, "expires_in": self.knobs.token_ttl,
                "api_domain": api_domain, "token_type": "Bearer"}

    @_locked
    def revoke_token(self, token: str) -> bool:
        """Revoke a refresh token (and its access tokens) or a single access token."""
        if token in self.refresh_tokens:
            del self.refresh_tokens[token]
            self.access_tokens = {k: v for k, v in self.access_tokens.items() if v.refresh_token != token}
            return True
        return self.access_tokens.pop(token, None) is not None

    @_locked
    def expire_tokens(self) -> int:
        """Every access token issued so far stops working now; returns how many there were."""
        count = len(self.access_tokens)
        self.access_tokens.clear()
        return count

    @_locked
    def add_client(self, client_id: str, client_secret: str, refresh_token: str | None = None) -> None:
        self.clients[client_id] = client_secret
        if refresh_token:
            self.refresh_tokens[refresh_token] = client_id

    # ----------------------------------------------------------------- admission of API calls

    @_locked
    def take_fault(self, path: str) -> SimError | None:
        """The first queued `fail_next` fault whose `path_contains` matches, removed from the queue."""
        for index, fault in enumerate(self.knobs.fail_next):
            if fault.get("path_contains", "") in path:
                del self.knobs.fail_next[index]
                self.injected_faults += 1
                return _fault_error(fault)
        return None

    @_locked
    def admit_api_call(self, *, path: str, authorization: str | None,
                       organization_id: str | None, needs_organization: bool = True) -> dict[str, str]:
        """Gate for every /inventory/v1 call, in Zoho's order; returns X-Rate-Limit headers.

        Order: queued fault, token, organization, rate limits, random faults.
        """
        fault = self.take_fault(path)
        if fault is not None:
            raise fault
        self._authenticate(authorization)
        if needs_organization:
            self._check_organization(organization_id)
        headers = self._admit_rate(organization_id or "")
        self._random_fault(headers)
        return headers

    def _authenticate(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").strip().partition(" ")
        access = self.access_tokens.get(token.strip()) if scheme.lower() == AUTH_SCHEME else None
        if access is None or access.expires_at <= self.now():
            raise SimError.envelope(401, CODE_NOT_AUTHORIZED, MSG_NOT_AUTHORIZED)

    def _check_organization(self, organization_id: str | None) -> None:
        if not organization_id:
            raise SimError.envelope(400, CODE_ORGANIZATION, "Please send the organization_id parameter.")
        if organization_id != self.organization_id:
            raise SimError.envelope(400, CODE_ORGANIZATION,
                                    "This user is not associated with the organization_id passed.")

    def _admit_rate(self, org: str) -> dict[str, str]:
        """Count the call against the minute window and the daily cap, or raise a 429."""
        now = self.now()
        window = self._minute_windows.setdefault(org, deque())
        while window and window[0] <= now - RATE_WINDOW_SECONDS:
            window.popleft()
        limit = self.knobs.rate_limit_per_minute
        if limit is not None and len(window) >= limit:
            self.throttled += 1
            wait = self._window_reset(window, now)
            raise SimError.envelope(429, CODE_RATE_MINUTE, MSG_RATE_MINUTE,
                                    self._retry_headers(wait) | self._limit_headers(limit, 0, wait))
        self._admit_daily(org, now)
        window.append(now)
        if limit is None:
            return {}
        return self._limit_headers(limit, limit - len(window), self._window_reset(window, now))

    def _admit_daily(self, org: str, now: float) -> None:
        if self.knobs.daily_limit is None:
            return
        tz = offset_to_tz(self.knobs.time_offset)
        today = datetime.fromtimestamp(now, tz=tz)
        day, used = self._daily_counts.get(org, ("", 0))
        used = used if day == today.date().isoformat() else 0
        if used >= self.knobs.daily_limit:
            self.throttled += 1
            midnight = datetime.combine(today.date() + timedelta(days=1), datetime.min.time(), tzinfo=tz)
            raise SimError.envelope(429, CODE_RATE_DAY, MSG_RATE_DAY.format(limit=self.knobs.daily_limit),
                                    self._retry_headers(math.ceil(midnight.timestamp() - now)))
        self._daily_counts[org] = (today.date().isoformat(), used + 1)

    @staticmethod
    def _window_reset(window: deque[float], now: float) -> int:
        """Seconds until the oldest call in the window leaves it (at least 1)."""
        return max(1, math.ceil(window[0] + RATE_WINDOW_SECONDS - now)) if window else RATE_WINDOW_SECONDS

    def _retry_headers(self, natural_wait: int) -> dict[str, str]:
        """Retry-After for a 429 being answered now, its window recorded (see `arrivals`)."""
        setting = self.knobs.retry_after_seconds
        if setting is None:
            return {}
        wait = natural_wait if setting == "auto" else setting
        self.retry_windows.append((self.now(), self.now() + wait))
        return {"Retry-After": str(wait)}

    @staticmethod
    def _limit_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
        return {"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Remaining": str(max(0, remaining)),
                "X-Rate-Limit-Reset": str(reset)}

    def _random_fault(self, headers: dict[str, str]) -> None:
        self._calls_admitted += 1
        every = self.knobs.throttle_every
        if every and self._calls_admitted % every == 0:
            self.throttled += 1
            self.injected_faults += 1
            raise SimError.envelope(429, CODE_RATE_MINUTE, MSG_RATE_MINUTE, self._retry_headers(1) | headers)
        if self.knobs.rate_429 and self.rng.random() < self.knobs.rate_429:
            self.throttled += 1
            self.injected_faults += 1
            wait = int(headers.get("X-Rate-Limit-Reset", "1"))
            raise SimError.envelope(429, CODE_RATE_MINUTE, MSG_RATE_MINUTE, self._retry_headers(wait) | headers)
        if self.knobs.rate_5xx and self.rng.random() < self.knobs.rate_5xx:
            self.injected_faults += 1
            raise SimError.envelope(500, CODE_INTERNAL, "Internal error")

    # ----------------------------------------------------------------- catalogue: writes

    @_locked
    def replace_items(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Replace the whole catalogue, keeping the items' own timestamps."""
        self.items: dict[str, StoredItem] = {}
        self.group_fields: dict[str, dict[str, Any]] = {}
        for payload in items:
            stored = self._ingest(payload, None, bump=False)
            self.items[stored.item_id] = stored
        return len(self.items)

    @_locked
    def generate_catalogue(self, count: int, *, seed: int = 1, groups: int = 0,
                           image_ratio: float = 0.0) -> int:
        """Replace the catalogue with `catalogue.generate_catalogue(...)` output."""
        return self.replace_items(catalogue.generate_catalogue(
            count, seed=seed, groups=groups, image_ratio=image_ratio, time_offset=self.knobs.time_offset))

    @_locked
    def upsert_items(self, payloads: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Create or merge items by item_id (new id when absent); bumps last_modified_time and
        fires the item workflows ("create" for a new id, "edit" otherwise)."""
        results = []
        for payload in payloads:
            item_id = str(payload.get("item_id") or "")
            existing = self.items.get(item_id)
            stored = self._ingest(payload, existing, bump=True)
            self.items[stored.item_id] = stored
            detail = self._detail(stored)
            self._fire_item_event(detail, "edit" if existing else "create")
            results.append(detail)
        return results

    @_locked
    def touch_item(self, item_id: str) -> dict[str, Any]:
        """Bump last_modified_time to now and fire "edit" without changing a field: what a stock
        transaction may do to an item in Zoho (unproven, see §6.5 of the notes)."""
        if item_id not in self.items:
            raise not_found("Item")
        return self.upsert_items([{"item_id": item_id}])[0]

    @_locked
    def patch_item(self, item_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        if item_id not in self.items:
            raise not_found("Item")
        return self.upsert_items([{**changes, "item_id": item_id}])[0]

    @_locked
    def delete_item(self, item_id: str) -> None:
        if self.items.pop(item_id, None) is None:
            raise not_found("Item")

    @_locked
    def set_image(self, item_id: str, data: bytes | None, image_type: str | None = None,
                  image_name: str | None = None) -> dict[str, Any]:
        """Attach (or with None remove) an item's image; a new document id marks the change."""
        if item_id not in self.items:
            raise not_found("Item")
        if data is None:
            return self.patch_item(item_id, {"image_name": ""})
        change: dict[str, Any] = {"image_bytes": data}
        if image_type:
            change["image_type"] = image_type
        if image_name:
            change["image_name"] = image_name
        return self.patch_item(item_id, change)

    def _ingest(self, payload: Mapping[str, Any], existing: StoredItem | None, *, bump: bool) -> StoredItem:
        """Turn a Zoho-shaped dict into a StoredItem, merged over `existing` if any."""
        data = dict(payload)
        item_id = str(data.pop("item_id", "") or "") or self._new_id("item")
        if "name" not in data and data.get("item_name"):
            data["name"] = data["item_name"]
        created_text, modified_text = data.pop("created_time", None), data.pop("last_modified_time", None)
        stock = self._ingest_stock(data, existing)
        image = self._ingest_image(data, existing)
        package = data.pop("package_details", None) or {}
        data.update({k: _text(v) for k, v in package.items() if k in DIMENSION_FIELDS})
        for name in _DERIVED_FIELDS:
            data.pop(name, None)
        merged = {**(existing.fields if existing else {}), **data, "item_id": item_id}
        self._fix_document_id(merged, existing, image_changed="image_bytes" in payload or "image_base64" in payload)
        now = int(self.now())
        created = existing.created if existing else (parse_loose_time(created_text) if created_text else now)
        modified = now if bump else (parse_loose_time(modified_text) if modified_text else created)
        return StoredItem(merged, stock, created, modified, image)

    def _ingest_stock(self, data: dict[str, Any], existing: StoredItem | None) -> list[dict[str, Any]]:
        """Per-location stock from `locations[]`, `warehouses[]` or totals (all to the primary)."""
        locations, warehouses = data.pop("locations", None), data.pop("warehouses", None)
        totals = {name: data.pop(name) for name in STOCK_FIELDS if name in data}
        if locations is not None:
            return [_location_entry(loc, "location_") for loc in locations]
        if warehouses is not None:
            return [_location_entry(wh, "warehouse_") for wh in warehouses]
        stock = copy.deepcopy(existing.stock) if existing else self._empty_stock()
        if not totals:
            return stock
        committed = existing.total("available_stock") - existing.total("actual_available_stock") if existing else 0
        if "stock_on_hand" in totals:
            totals.setdefault("available_stock", totals["stock_on_hand"])
        # Committed stock (open sales orders) survives a stock change, but is not allowed to
        # drive the figure negative: a test that sets stock_on_hand=3 expects 3 or less, not -1.
        if "available_stock" in totals:
            totals.setdefault("actual_available_stock", max(0, totals["available_stock"] - committed))
        for entry in stock:
            for name, value in totals.items():
                entry[f"location_{name}"] = value if entry["is_primary"] else 0
        return stock

    def _empty_stock(self) -> list[dict[str, Any]]:
        return [{**loc, **{f"location_{name}": 0 for name in STOCK_FIELDS}} for loc in self.locations]

    def _ingest_image(self, data: dict[str, Any], existing: StoredItem | None) -> bytes | None:
        """Image bytes posted as `image_bytes` / `image_base64`; `image_name: ""` removes it."""
        raw = data.pop("image_bytes", None)
        encoded = data.pop("image_base64", None)
        if encoded is not None:
            raw = base64.b64decode(encoded)
        if raw is not None:
            kind = data.get("image_type") or _sniff_image_type(raw)
            data["image_type"] = kind
            sku = data.get("sku") or (existing.fields.get("sku") if existing else "") or "image"
            data.setdefault("image_name", f"{str(sku).lower()}.{kind}")
            return raw
        if data.get("image_name") == "":
            data.update(image_type="", image_document_id="")
            return None
        return existing.image if existing else None

    def _fix_document_id(self, merged: dict[str, Any], existing: StoredItem | None, *, image_changed: bool) -> None:
        """A new or replaced image gets a new image_document_id (clients dedupe on it)."""
        if not merged.get("image_name"):
            return
        if image_changed or not merged.get("image_document_id"):
            merged["image_document_id"] = self._new_id("document")

    def _new_id(self, kind: str) -> str:
        self._next_ids[kind] += 1
        while kind == "item" and str(self._next_ids[kind]) in getattr(self, "items", {}):
            self._next_ids[kind] += 1
        return str(self._next_ids[kind])

    # ----------------------------------------------------------------- catalogue: rendering

    def _row(self, item: StoredItem) -> dict[str, Any]:
        """A `GET /items` row: defaults, the item's list fields, totals and formatted times."""
        offset = self.knobs.time_offset
        row = {name: item.fields.get(name, default) for name, default in LIST_ROW_DEFAULTS.items()}
        row |= {k: v for k, v in item.fields.items() if k.startswith("cf_")}
        row |= {name: item.total(name) for name in STOCK_FIELDS}
        row["item_name"] = row["name"]
        row["has_attachment"] = bool(row["image_name"])
        row["created_time"] = format_zoho_time(item.created, offset)
        row["last_modified_time"] = format_zoho_time(item.modified, offset)
        if not self.knobs.list_rows_full:
            for name in _THIN_ROW_OMITS:
                row.pop(name, None)
        return row

    def _detail(self, item: StoredItem) -> dict[str, Any]:
        """A `GET /items/{id}` item: every stored field plus nested package, stock and documents."""
        detail = {**LIST_ROW_DEFAULTS, **DETAIL_EXTRA_DEFAULTS, **copy.deepcopy(item.fields)}
        package = {name: detail.pop(name) for name in DIMENSION_FIELDS}
        on_hand, available, actual = (item.total(name) for name in STOCK_FIELDS)
        detail |= {
            "item_name": detail["name"], "pricebook_rate": detail["rate"], "sales_rate": detail["rate"],
            "stock_on_hand": on_hand, "available_stock": available, "actual_available_stock": actual,
            "committed_stock": available - actual, "available_for_sale_stock": actual,
            "package_details": package,
            "locations": [_render_location(e, "location_") for e in item.stock],
            "warehouses": [_render_location(e, "warehouse_") for e in item.stock],
            "has_attachment": bool(detail["image_name"]), "image_id": detail["image_document_id"],
            "documents": _documents(detail),
            "custom_field_hash": {k: v for k, v in item.fields.items() if k.startswith("cf_")},
            "created_time": format_zoho_time(item.created, self.knobs.time_offset),
            "last_modified_time": format_zoho_time(item.modified, self.knobs.time_offset),
        }
        return detail

    # ----------------------------------------------------------------- catalogue: reads

    @_locked
    def list_items(self, params: Mapping[str, str]) -> dict[str, Any]:
        """`GET /items`: filters, sort and page; returns `items` and `page_context`."""
        filter_by = params.get("filter_by") or "Status.All"
        sort_column = params.get("sort_column") or "name"
        sort_order = params.get("sort_order") or "A"
        if sort_column not in _SORT_COLUMNS:
            raise invalid_value("sort_column")
        if sort_order not in ("A", "D"):
            raise invalid_value("sort_order")
        if params.get("status") not in (None, "active", "inactive"):
            raise invalid_value("status")
        selected = self._selection(params, filter_by, sort_column, sort_order)
        page, per_page = _paging(params)
        window = selected[(page - 1) * per_page: page * per_page]
        context = {"page": page, "per_page": per_page, "has_more_page": page * per_page < len(selected),
                   "report_name": "Items", "applied_filter": filter_by,
                   "sort_column": sort_column, "sort_order": sort_order}
        return {"items": [self._row(item) for item in window], "page_context": context}

    def _selection(self, params: Mapping[str, str], filter_by: str, sort_column: str,
                   sort_order: str) -> list[StoredItem]:
        """The filtered, sorted items of a listing. A scan of a 100,000-item catalogue lists it
        500 times, so the last selection is kept while the same items (the same objects: every
        change stores a new StoredItem) are asked for the same way."""
        by_status, since = _status_filter(filter_by), _modified_after(params)
        key = (filter_by, sort_column, sort_order, since, tuple(params.get(k) for k in _FIELD_FILTER_KEYS))
        snapshot = tuple(self.items.values())
        kept = getattr(self, "_last_selection", None)
        if kept is not None and kept[0] == key and kept[1] == snapshot:
            return kept[2]
        filtered = any(params.get(k) is not None for k in _FIELD_FILTER_KEYS)
        selected = [item for item in snapshot if by_status(item) and item.modified > since
                    and (not filtered or _field_filters(item.fields, params))]
        selected.sort(key=lambda item: _sort_key(item, sort_column), reverse=sort_order == "D")
        self._last_selection = (key, snapshot, selected)
        return selected

    @_locked
    def get_item(self, item_id: str) -> dict[str, Any]:
        if item_id not in self.items:
            raise not_found("Item")
        return self._detail(self.items[item_id])

    @_locked
    def item_details(self, item_ids: str | None) -> list[dict[str, Any]]:
        """`GET /itemdetails?item_ids=a,b`: details in request order, unknown ids left out."""
        ids = [part.strip() for part in (item_ids or "").split(",") if part.strip()]
        if not ids or len(ids) > MAX_ITEMDETAILS_IDS:
            raise invalid_value("item_ids")
        unique = list(dict.fromkeys(ids))
        return [self._detail(self.items[i]) for i in unique if i in self.items]

    @_locked
    def all_items(self) -> list[dict[str, Any]]:
        return [self._detail(item) for item in self.items.values()]

    @_locked
    def get_image(self, item_id: str) -> tuple[bytes, str, str]:
        """(bytes, image_type, image_name) of the item's image, rendered on first use."""
        item = self.items.get(item_id)
        if item is None:
            raise not_found("Item")
        if not item.fields.get("image_name") or item_id in self.knobs.broken_images:
            raise SimError.envelope(404, CODE_NOT_FOUND, "Image does not exist.")  # a guess, see the module notes
        image_type = item.fields.get("image_type") or "png"
        if item.image is None:
            item.image = catalogue.render_image(item_id, image_type)
        return item.image, image_type, item.fields["image_name"]

    # ----------------------------------------------------------------- item groups
    #
    # A group's own fields (name, description, brand, unit, image) are its own in Zoho, set on
    # the group and not on its items: `set_group` sets them. A group never given any (a
    # generated catalogue's, or items upserted with a group_id) shows what its items suggest.

    GROUP_OWN_FIELDS = ("group_name", "description", "brand", "manufacturer", "unit", "image_document_id",
                        "image_name", "image_type")

    @_locked
    def set_group(self, group_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Set a group's own fields (`GROUP_OWN_FIELDS`); its image names a document, as
        Zoho's does. Items keep their `group_name` in step, as Zoho's do."""
        members = self._group_members().get(group_id)
        if not members:
            raise not_found("Item group")
        unknown = set(changes) - set(self.GROUP_OWN_FIELDS)
        if unknown:
            raise invalid_value(sorted(unknown)[0])
        self.group_fields.setdefault(group_id, {}).update({k: str(v) for k, v in changes.items()})
        if "group_name" in changes:
            for member in members:
                member.fields["group_name"] = str(changes["group_name"])
        return self._group(group_id, members)

    def _group_members(self) -> dict[str, list[StoredItem]]:
        groups: dict[str, list[StoredItem]] = {}
        for item in self.items.values():
            if group_id := item.fields.get("group_id"):
                groups.setdefault(str(group_id), []).append(item)
        return groups

    @_locked
    def list_item_groups(self, params: Mapping[str, str]) -> dict[str, Any]:
        """`GET /itemgroups`: groups sorted by name, paged like items."""
        groups = sorted(self._group_members().items(),
                        key=lambda pair: (str(pair[1][0].fields.get("group_name", "")).lower(), pair[0]))
        page, per_page = _paging(params)
        window = groups[(page - 1) * per_page: page * per_page]
        context = {"page": page, "per_page": per_page, "has_more_page": page * per_page < len(groups),
                   "report_name": "Item Groups", "applied_filter": "Status.All",
                   "sort_column": "group_name", "sort_order": "A"}
        return {"itemgroups": [self._group(gid, members) for gid, members in window], "page_context": context}

    @_locked
    def get_item_group(self, group_id: str) -> dict[str, Any]:
        members = self._group_members().get(group_id)
        if not members:
            raise not_found("Item group")
        return self._group(group_id, members)

    def _group(self, group_id: str, members: list[StoredItem]) -> dict[str, Any]:
        """The `item_group` object, derived from its member items."""
        first = members[0].fields
        # Without an image of its own, the group shows its first active item's (as when it was
        # made from them).
        with_image = next((m.fields for m in sorted(members, key=lambda m: m.item_id)
                           if m.fields.get("image_name") and m.fields.get("status", "active") == "active"), {})
        descriptions = Counter(str(m.fields.get("description", "")) for m in members)
        own = self.group_fields.get(group_id, {})
        if "image_document_id" in own:
            with_image = own
        group = {
            "group_id": group_id, "group_name": first.get("group_name", ""),
            "description": descriptions.most_common(1)[0][0],
            "status": "active" if any(m.fields.get("status", "active") == "active" for m in members) else "inactive",
            "unit": first.get("unit", "pcs"), "brand": first.get("brand", ""),
            "manufacturer": first.get("manufacturer", ""), "product_type": first.get("product_type", "goods"),
            "source": "user", "tax_id": "", "tax_name": "", "tax_percentage": 0,
            "image_id": with_image.get("image_document_id", ""),
            "image_name": with_image.get("image_name", ""), "image_type": with_image.get("image_type", ""),
            "image_document_id": with_image.get("image_document_id", ""),
            "cumulative_stock_on_hand": sum(m.total("stock_on_hand") for m in members),
            "created_time": format_zoho_time(min(m.created for m in members), self.knobs.time_offset),
            "last_modified_time": format_zoho_time(max(m.modified for m in members), self.knobs.time_offset),
        }
        group |= {k: v for k, v in own.items() if not k.startswith("image_")}
        for slot in (1, 2, 3):
            for prefix in ("attribute_id", "attribute_name", "attribute_type"):
                group[f"{prefix}{slot}"] = first.get(f"{prefix}{slot}", "")
        group["items"] = [self._group_item(m) for m in members]
        group["attributes"] = _group_attributes(members)
        return group

    def _group_item(self, item: StoredItem) -> dict[str, Any]:
        f = item.fields
        row = {name: f.get(name, LIST_ROW_DEFAULTS.get(name, "")) for name in (
            "item_id", "name", "sku", "status", "rate", "purchase_rate", "reorder_level",
            "upc", "ean", "isbn", "part_number", "is_returnable",
            "image_name", "image_type", "image_document_id")}
        row |= {"initial_stock": f.get("initial_stock", 0), "initial_stock_rate": f.get("initial_stock_rate", 0)}
        row |= {name: item.total(name) for name in STOCK_FIELDS}
        row |= {f"{p}{s}": f.get(f"{p}{s}", "") for s in (1, 2, 3)
                for p in ("attribute_option_id", "attribute_option_name", "attribute_option_data")}
        return row

    # ----------------------------------------------------------------- webhooks and workflows

    @_locked
    def create_webhook(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Store a webhook as posted (with defaults for the fields Zoho fills in); the public view."""
        webhook = {**_webhook_defaults(), **copy.deepcopy(dict(body))}
        _check_webhook(webhook)
        webhook["method"] = str(webhook["method"]).upper()
        webhook["webhook_id"] = self._new_id("webhook")
        self.webhooks[webhook["webhook_id"]] = webhook
        return _public_webhook(webhook)

    @_locked
    def get_webhook(self, webhook_id: str) -> dict[str, Any]:
        if webhook_id not in self.webhooks:
            raise not_found("Webhook")
        return _public_webhook(self.webhooks[webhook_id])

    @_locked
    def delete_webhook(self, webhook_id: str) -> None:
        if webhook_id not in self.webhooks:
            raise not_found("Webhook")
        if any(webhook_id in _webhook_actions(w) for w in self.workflows.values()):
            raise SimError.envelope(400, CODE_WEBHOOK_IN_USE,
                                    "This webhook is used in a workflow rule. Remove it from the rule first.")
        del self.webhooks[webhook_id]

    @_locked
    def create_workflow(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Store a workflow rule (active unless posted otherwise); its webhooks must exist."""
        workflow = {"workflow_name": "", "entity": "", "rule_type": "", "instant_actions": [],
                    "is_active": True, **copy.deepcopy(dict(body))}
        actions = workflow["instant_actions"]
        if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
            raise invalid_value("instant_actions")
        if any(hook_id not in self.webhooks for hook_id in _webhook_actions(workflow)):
            raise invalid_value("instant_actions")
        workflow["is_active"] = bool(workflow["is_active"])
        workflow["status"] = "active" if workflow["is_active"] else "inactive"
        workflow["workflow_id"] = self._new_id("workflow")
        self.workflows[workflow["workflow_id"]] = workflow
        return copy.deepcopy(workflow)

    @_locked
    def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        if workflow_id not in self.workflows:
            raise not_found("Workflow")
        return copy.deepcopy(self.workflows[workflow_id])

    @_locked
    def delete_workflow(self, workflow_id: str) -> None:
        if self.workflows.pop(workflow_id, None) is None:
            raise not_found("Workflow")

    @_locked
    def set_workflow_active(self, workflow_id: str, active: bool) -> dict[str, Any]:
        workflow = self.workflows.get(workflow_id)
        if workflow is None:
            raise not_found("Workflow")
        workflow.update(is_active=active, status="active" if active else "inactive")
        return copy.deepcopy(workflow)

    @_locked
    def list_webhooks(self) -> list[dict[str, Any]]:
        return [_public_webhook(w) for w in self.webhooks.values()]

    @_locked
    def list_workflows(self) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self.workflows.values()))

    # ----------------------------------------------------------------- webhook delivery

    def _fire_item_event(self, detail: dict[str, Any], event: str) -> None:
        """Queue one delivery per webhook action of every workflow that fires on this event."""
        for workflow_id, webhook_id in webhooks.firing_actions(self.workflows.values(), event):
            webhook = self.webhooks.get(webhook_id)
            if webhook is None:
                continue  # deleting a used webhook is refused, but a test may pop it directly
            request = webhooks.build_request(webhook, webhooks.item_body(detail))
            self._queue_delivery(request, webhook_id=webhook_id, workflow_id=workflow_id,
                                 item_id=detail["item_id"], event=event, url=str(webhook["url"]))

    def _queue_delivery(self, request: OutboundRequest, **about: Any) -> dict[str, Any]:
        """Log a pending delivery and hand it to the worker; returns the log entry."""
        record = {
            "index": len(self.deliveries), **about, "status": "pending", "attempts": 0, "sent_at": None,
            "outcome": "pending", "body": request.body.decode(), "signature": request.signature,
            "method": request.method, "request_url": request.url, "headers": dict(request.headers),
        }
        self.deliveries.append(record)
        # The request itself stays with the record (not in the JSON view) so a replay is byte-exact.
        self._requests_sent.append(request)
        self._delivery_worker().submit(DeliveryJob(record["index"], self._generation, request))
        return record

    def _delivery_worker(self) -> DeliveryWorker:
        if self._worker is None:
            self._worker = DeliveryWorker(policy=self._delivery_policy, live=self._delivery_live,
                                          report=self._delivery_report, clock=self.clock)
        return self._worker

    @_locked
    def _delivery_policy(self) -> DeliveryPolicy:
        knobs = self.knobs
        return DeliveryPolicy(retries=knobs.webhook_retries, retry_delay=knobs.webhook_retry_delay_ms / 1000,
                              latency=knobs.webhook_latency_ms / 1000, timeout=knobs.webhook_timeout_seconds)

    @_locked
    def _delivery_live(self, job: DeliveryJob) -> bool:
        return job.generation == self._generation

    @_locked
    def _delivery_report(self, job: DeliveryJob, report: AttemptReport) -> None:
        """Worker callback after each attempt: update the log, count and wake waiters when final."""
        if job.generation != self._generation:
            return  # logged before a reset; that log is gone
        record = self.deliveries[job.index]
        record.update(status=report.status, attempts=report.attempts, sent_at=report.sent_at)
        if not report.final:
            return
        record["outcome"] = "delivered" if report.delivered else "failed"
        if report.delivered:
            self.webhooks_delivered += 1
        else:
            self.webhooks_failed += 1
        self._deliveries_finished += 1
        self._deliveries_changed.notify_all()

    @_locked
    def list_deliveries(self, item_id: str | None = None) -> list[dict[str, Any]]:
        """The delivery log (oldest first), optionally for one item."""
        return [copy.deepcopy(d) for d in self.deliveries if item_id is None or d["item_id"] == item_id]

    @_locked
    def redeliver(self, index: int) -> dict[str, Any]:
        """Send logged delivery `index` again, same bytes and signature (a replay); logged anew.

        LookupError when there is no such delivery.
        """
        if not 0 <= index < len(self.deliveries):
            raise LookupError(f"no delivery with index {index}; there are {len(self.deliveries)}")
        original = self.deliveries[index]
        about = {key: original[key] for key in ("webhook_id", "workflow_id", "item_id", "event", "url")}
        record = self._queue_delivery(self._requests_sent[index], **about, replay_of=index)
        return copy.deepcopy(record)

    def wait_for_deliveries(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least `count` deliveries since the last reset have finished (delivered or
        given up); False on timeout. Safe from any thread except the delivery worker's."""
        with self._deliveries_changed:
            return self._deliveries_changed.wait_for(lambda: self._deliveries_finished >= count, timeout)

    def close(self) -> None:
        """Stop the delivery worker after what it has queued (a later event starts a new one)."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()


# --------------------------------------------------------------------------- helpers


def _webhook_defaults() -> dict[str, Any]:
    """What a stored webhook holds for fields the caller left out (Zoho's form defaults)."""
    return {"webhook_name": "", "entity": "", "method": "POST", "url": "", "headers": [],
            "query_parameters": [], "body_type": "application/json", "raw_data": "${JSONString}",
            "secret": "", "description": ""}


def _check_webhook(webhook: Mapping[str, Any]) -> None:
    """400 code 2 naming the first bad field of a webhook about to be stored."""
    if not webhook.get("url") or not isinstance(webhook["url"], str):
        raise invalid_value("url")
    if str(webhook.get("method", "")).upper() not in webhooks.WEBHOOK_METHODS:
        raise invalid_value("method")
    for name in ("headers", "query_parameters"):
        entries = webhook.get(name)
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("param_name"), str) and e["param_name"] for e in entries):
            raise invalid_value(name)
    secret = webhook.get("secret")
    if secret and not (isinstance(secret, str) and webhooks.SECRET_PATTERN.fullmatch(secret)):
        raise invalid_value("secret")


def _public_webhook(webhook: Mapping[str, Any]) -> dict[str, Any]:
    """A webhook as responses show it: without the secret, which Zoho never shows back."""
    return {k: copy.deepcopy(v) for k, v in webhook.items() if k != "secret"}


def _webhook_actions(workflow: Mapping[str, Any]) -> list[str]:
    """Ids of the webhooks a workflow's instant actions call."""
    return [str(a.get("action_id")) for a in workflow.get("instant_actions") or ()
            if isinstance(a, dict) and a.get("action_type") == "webhook"]


def _fault_error(fault: Mapping[str, Any]) -> SimError:
    status = int(fault.get("status", 500))
    body = fault.get("body")
    if body is None:
        body = {"code": CODE_INTERNAL if status >= 500 else CODE_INVALID_VALUE, "message": "Injected failure"}
    return SimError(status, body, {str(k): str(v) for k, v in (fault.get("headers") or {}).items()})


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _location_entry(entry: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """A stored per-location stock entry from a `locations[]` or `warehouses[]` element."""
    return {
        "location_id": str(entry.get(f"{prefix}id", "")),
        "location_name": entry.get(f"{prefix}name", ""),
        "is_primary": bool(entry.get("is_primary", False)),
        **{f"location_{name}": entry.get(f"{prefix}{name}", 0) for name in STOCK_FIELDS},
    }


def _render_location(entry: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {
        f"{prefix}id": entry["location_id"], f"{prefix}name": entry["location_name"],
        "status": "active", "is_primary": entry["is_primary"],
        **{f"{prefix}{name}": entry[f"location_{name}"] for name in STOCK_FIELDS},
    }


def _documents(detail: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not detail.get("image_name"):
        return []
    return [{"document_id": detail["image_document_id"], "file_name": detail["image_name"],
             "file_type": detail["image_type"], "attachment_order": 1}]


def _group_attributes(members: list[StoredItem]) -> list[dict[str, Any]]:
    """`attributes: [{id, name, options: [{id, name}]}]`, options in first-seen order."""
    attributes = []
    for slot in (1, 2, 3):
        first = members[0].fields
        if not first.get(f"attribute_name{slot}"):
            continue
        options = {}
        for member in members:
            option_id = str(member.fields.get(f"attribute_option_id{slot}", ""))
            options.setdefault(option_id, member.fields.get(f"attribute_option_name{slot}", ""))
        attributes.append({"id": first.get(f"attribute_id{slot}", ""), "name": first[f"attribute_name{slot}"],
                           "options": [{"id": oid, "name": name} for oid, name in options.items()]})
    return attributes


def _sniff_image_type(data: bytes) -> str:
    for signature, kind in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return kind
    return "webp" if data[8:12] == b"WEBP" else "png"


def _paging(params: Mapping[str, str]) -> tuple[int, int]:
    """(page, per_page) with Zoho's defaults; per_page clamped to 1..200."""
    try:
        page = int(params.get("page") or 1)
    except ValueError:
        raise invalid_value("page") from None
    try:
        per_page = int(params.get("per_page") or MAX_PER_PAGE)
    except ValueError:
        raise invalid_value("per_page") from None
    if page < 1:
        raise invalid_value("page")
    return page, min(max(per_page, 1), MAX_PER_PAGE)


def _status_filter(filter_by: str) -> Callable[[StoredItem], bool]:
    def status(item: StoredItem) -> str:
        return item.fields.get("status", "active")

    def low_stock(item: StoredItem) -> bool:
        level = item.fields.get("reorder_level", "")
        return level != "" and item.total("stock_on_hand") <= float(level)

    filters: dict[str, Callable[[StoredItem], bool]] = {
        "Status.All": lambda item: True,
        "Status.Active": lambda item: status(item) == "active",
        "Status.Inactive": lambda item: status(item) == "inactive",
        "Status.Grouped": lambda item: bool(item.fields.get("group_id")),
        "Status.Lowstock": low_stock,
        "ItemType.All": lambda item: True,
    }
    if filter_by not in filters:
        raise invalid_value("filter_by")
    return filters[filter_by]


def _modified_after(params: Mapping[str, str]) -> int:
    """Epoch seconds of `last_modified_time` (strict Zoho format), or -1 when absent."""
    since = params.get("last_modified_time")
    if since is None:
        return -1
    try:
        return parse_zoho_time(since)
    except ValueError:
        raise invalid_value("last_modified_time") from None


_FIELD_FILTER_KEYS = ("status", "sku", "sku_startswith", "sku_contains", "name", "name_startswith", "name_contains",
                      "search_text", "group_id", "item_id")


def _field_filters(fields_: Mapping[str, Any], params: Mapping[str, str]) -> bool:
    """status, sku/name exact, prefix and substring filters, search_text, group_id, item_id."""
    name, sku = str(fields_.get("name", "")), str(fields_.get("sku", ""))
    checks = (
        ("status", lambda v: fields_.get("status", "active") == v),
        ("sku", lambda v: sku == v),
        ("sku_startswith", lambda v: sku.lower().startswith(v.lower())),
        ("sku_contains", lambda v: v.lower() in sku.lower()),
        ("name", lambda v: name.lower() == v.lower()),
        ("name_startswith", lambda v: name.lower().startswith(v.lower())),
        ("name_contains", lambda v: v.lower() in name.lower()),
        ("search_text", lambda v: v.lower() in name.lower() or v.lower() in sku.lower()),
        ("group_id", lambda v: str(fields_.get("group_id", "")) == v),
        ("item_id", lambda v: str(fields_.get("item_id", "")) == v),
    )
    return all(check(params[key]) for key, check in checks if params.get(key) is not None)


def _sort_key(item: StoredItem, column: str) -> tuple[Any, str]:
    """Sort value for a column, item_id as the tie-breaker so pages are stable."""
    if column == "created_time":
        value: Any = item.created
    elif column == "last_modified_time":
        value = item.modified
    elif column == "stock_on_hand":
        value = item.total("stock_on_hand")
    elif column in ("rate", "purchase_rate", "reorder_level"):
        raw = item.fields.get(column, "")
        value = float(raw) if raw not in ("", None) else -1.0
    else:
        value = str(item.fields.get(column, "")).lower()
    return value, item.item_id
