"""Outbound webhooks of the Zoho Inventory simulator: which rules fire, the request, its signature
and a delivery worker.

Pure machinery with no state of its own: `state.ZohoState` decides when an item event happens,
keeps the webhook/workflow records and the delivery log, and hands finished requests to a
`DeliveryWorker`. Every vendor behaviour chosen here is listed under "Uncertain vendor facts" in
`state.py`.

The worker is one daemon thread with a `queue.Queue` and a synchronous `httpx.Client`, not an
asyncio task: state methods are called from the server's event loop *and* from test threads
(which mutate a `ZohoState` directly while uvicorn runs in a `ServerThread`), and a plain queue
accepts work from either without knowing which loop, if any, is running. Enqueuing never blocks,
so a slow receiver can never slow down or fail the control call that caused the event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

SIGNATURE_HEADER = "X-Zoho-Webhook-Signature"
CONTENT_TYPE = "application/json"
#: Books v3: "Min-len [12], Max-len [50], alphanumeric only". ASCII only: str.isalnum accepts "é".
SECRET_PATTERN = re.compile(r"[A-Za-z0-9]{12,50}")
WEBHOOK_METHODS = ("POST", "PUT", "DELETE")
ITEM_ENTITIES = ("item", "items")
#: rule_type → the item events it fires on.
RULE_EVENTS: dict[str, tuple[str, ...]] = {
    "add": ("create",),
    "edit": ("edit",),
    "add_or_edit": ("create", "edit"),
    "created_or_edited": ("create", "edit"),
}


# --------------------------------------------------------------------------- which rules fire


def firing_actions(workflows: Iterable[Mapping[str, Any]], event: str) -> list[tuple[str, str]]:
    """(workflow_id, webhook_id) for every webhook action of an active item rule matching `event`.

    `event` is "create" or "edit"; order is workflow order, then action order.
    """
    fired = []
    for workflow in workflows:
        if not workflow.get("is_active", True):
            continue
        if str(workflow.get("entity", "")).lower() not in ITEM_ENTITIES:
            continue
        if event not in RULE_EVENTS.get(str(workflow.get("rule_type", "")).lower(), ()):
            continue
        for action in workflow.get("instant_actions") or ():
            if action.get("action_type") == "webhook" and action.get("action_id"):
                fired.append((str(workflow["workflow_id"]), str(action["action_id"])))
    return fired


# --------------------------------------------------------------------------- the request


def signing_string(query: Iterable[tuple[str, str]], body: bytes) -> bytes:
    """Query pairs sorted by name (stable, so repeated names keep their order), each name
    immediately followed by its value, then the raw body: Zoho Billing's documented recipe."""
    ordered = sorted(query, key=lambda pair: pair[0])
    return "".join(name + value for name, value in ordered).encode() + body


def sign(secret: str, query: Iterable[tuple[str, str]], body: bytes) -> str:
    """Hex HMAC-SHA256 of `signing_string`, keyed by the webhook's secret."""
    return hmac.new(secret.encode(), signing_string(query, body), hashlib.sha256).hexdigest()


def item_body(detail: Mapping[str, Any]) -> bytes:
    """`{"item": <detail>}`, compact, UTF-8 (not ASCII-escaped), keys in detail order."""
    return json.dumps({"item": detail}, separators=(",", ":"), ensure_ascii=False).encode()


def _params(entries: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """`[{param_name, param_value}]` → [(name, value)] as strings."""
    return [(str(e["param_name"]), "" if e.get("param_value") is None else str(e["param_value"])) for e in entries]


@dataclass(frozen=True)
class OutboundRequest:
    """One webhook request exactly as sent; a replay sends the same object again."""

    method: str
    url: str  # with the query string
    headers: dict[str, str]
    body: bytes
    signature: str  # "" when the webhook has no secret


def build_request(webhook: Mapping[str, Any], body: bytes) -> OutboundRequest:
    """The request a webhook sends with `body`: its method, URL plus query_parameters, its headers
    plus Content-Type and (with a secret) the signature over every query pair of the final URL."""
    parts = urlsplit(str(webhook["url"]))
    query = parse_qsl(parts.query, keep_blank_values=True) + _params(webhook.get("query_parameters") or ())
    url = urlunsplit(parts._replace(query=urlencode(query)))
    # Custom headers first, so ours win: a receiver must be able to trust these two.
    headers = dict(_params(webhook.get("headers") or ()))
    headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", SIGNATURE_HEADER.lower())}
    headers["Content-Type"] = CONTENT_TYPE
    secret = str(webhook.get("secret") or "")
    signature = sign(secret, query, body) if secret else ""
    if signature:
        headers[SIGNATURE_HEADER] = signature
    return OutboundRequest(str(webhook.get("method") or "POST").upper(), url, headers, body, signature)


# --------------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class DeliveryPolicy:
    """Read from the knobs when a delivery starts, so a knob change applies to the next one."""

    retries: int
    retry_delay: float  # seconds
    latency: float  # seconds before the first attempt
    timeout: float  # seconds per attempt


@dataclass(frozen=True)
class DeliveryJob:
    """A request plus where its outcome goes: `index` in the state's delivery log, `generation`
    the state's reset counter when it was queued (a reset makes queued jobs stale)."""

    index: int
    generation: int
    request: OutboundRequest


@dataclass(frozen=True)
class AttemptReport:
    """After each attempt: HTTP status or error text, attempts so far, first attempt's time."""

    status: int | str
    attempts: int
    sent_at: float
    delivered: bool
    final: bool


def is_retryable(status: int | str) -> bool:
    """Network errors (text), timeouts, 429 and 5xx are worth another try; other answers are not:
    a 4xx (say, a rejected signature) would be rejected again for the same bytes."""
    return isinstance(status, str) or status == 429 or status >= 500


class DeliveryWorker:
    """One daemon thread that sends queued jobs in order, retrying as the policy says.

    `policy()` gives the current settings, `live(job)` says whether the job is still wanted (checked
    before every attempt) and `report(job, report)` receives every attempt's result. None of the
    three may block for long: they run on the worker thread between HTTP calls.
    """

    def __init__(
        self,
        *,
        policy: Callable[[], DeliveryPolicy],
        live: Callable[[DeliveryJob], bool],
        report: Callable[[DeliveryJob, AttemptReport], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._policy, self._live, self._report, self._clock = policy, live, report, clock
        self._queue: queue.Queue[DeliveryJob | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="zoho-sim-webhooks", daemon=True)
        self._thread.start()

    def submit(self, job: DeliveryJob) -> None:
        """Queue a job; returns at once."""
        self._queue.put(job)

    def close(self, timeout: float = 5.0) -> None:
        """Finish what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        # trust_env=False: Zoho does not go through the test machine's proxy, and a proxy variable
        # must not turn a loopback receiver into a proxy error.
        with httpx.Client(trust_env=False, follow_redirects=False) as client:
            while (job := self._queue.get()) is not None:
                try:
                    self._deliver(client, job)
                except Exception as exc:  # noqa: BLE001 - one bad job must not stop the worker
                    self._give_up(job, exc)

    def _give_up(self, job: DeliveryJob, exc: Exception) -> None:
        """Close the job as failed after an unexpected error, so waiters are not left hanging."""
        try:
            self._report(job, AttemptReport(_error_text(exc), 0, self._clock(), False, True))
        except Exception:  # noqa: BLE001 - the worker thread must survive a broken callback
            pass

    def _deliver(self, client: httpx.Client, job: DeliveryJob) -> None:
        policy = self._policy()
        if policy.latency:
            time.sleep(policy.latency)
        sent_at: float | None = None
        for attempt in range(1, policy.retries + 2):
            if not self._live(job):
                return  # the state was reset: nobody is waiting for this one any more
            sent_at = sent_at if sent_at is not None else self._clock()
            status = self._send(client, job.request, policy.timeout)
            delivered = isinstance(status, int) and 200 <= status < 300
            final = delivered or not is_retryable(status) or attempt > policy.retries
            self._report(job, AttemptReport(status, attempt, sent_at, delivered, final))
            if final:
                return
            time.sleep(policy.retry_delay)

    @staticmethod
    def _send(client: httpx.Client, request: OutboundRequest, timeout: float) -> int | str:
        """HTTP status, or the error's text when no answer came."""
        try:
            response = client.request(request.method, request.url, headers=request.headers,
                                      content=request.body, timeout=timeout)
        except httpx.HTTPError as exc:
            return _error_text(exc)
        return response.status_code


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
