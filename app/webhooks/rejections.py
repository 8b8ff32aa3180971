"""Refused webhook deliveries: counted, summed into one log line a minute, and rate limited.

The intake faces the internet, so a refusal must cost less than an acceptance: no row in
webhook_events (3,000 forged requests used to leave 3,000 rows, kept for the retention period),
no log line and no traceback each. What an operator sees instead:

- the Prometheus counter `skubridge_webhook_rejected_total{reason}`, labelled by reason only:
  connection ids in the URL are the sender's choice (unbounded for unknown ones) and the
  connection is in the log line below;
- one `webhook.rejected` warning per connection and minute, with the count and the reasons.
  Without a background task the minute's lines are written by the first request of the next
  minute (any request, accepted or not) or at shutdown. Every unknown connection id is summed
  under `connection_id="unknown"`;
- past BAD_SIGNATURES_PER_MINUTE bad signatures in a minute, a connection's further unsigned or
  wrongly signed requests get 429 with Retry-After (the end of the minute) instead of 401.

The count is shared by every API process through Redis (one INCR and EXPIRE per bad signature:
only refused requests pay it), in fixed windows of the wall clock's minutes. It is not the
`limits` library's: its window starts with the first hit on Redis's clock, so the answer's
Retry-After would cost a second round trip, and tests could not set the time.
"""

from __future__ import annotations

import enum
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter as PrometheusCounter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.errors import SkubridgeError, Unauthorized

log = structlog.get_logger(__name__)
Clock = Callable[[], float]  # seconds since the epoch: minutes must agree across processes
BAD_SIGNATURES_PER_MINUTE = 100
UNKNOWN = "unknown"

REJECTED = PrometheusCounter(
    "skubridge_webhook_rejected_total",
    "Webhook deliveries the intake refused, by reason.",
    ["reason"],
)


class Reason(enum.StrEnum):
    UNKNOWN_CONNECTION = "unknown_connection"  # 404, no such connection
    WEBHOOK_DISABLED = "webhook_disabled"  # 404, the connection has no webhook set up
    MISSING_SIGNATURE = "missing_signature"  # 401
    BAD_SIGNATURE = "bad_signature"  # 401, malformed or not matching
    RATE_LIMITED = "rate_limited"  # 429, a bad signature past the connection's limit
    TOO_LARGE = "too_large"  # 413
    NOT_AN_ITEM = "not_an_item"  # 400, signed by Zoho: recorded as a rejected event as well


class TooManyRequests(SkubridgeError):
    status_code = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class RejectionLog:
    """Refusals of the current minute, per connection, until the minute is over."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._minute = int(clock() // 60)
        self._counts: dict[str, Counter[str]] = {}

    def tick(self) -> None:
        """Write the last minute's lines once the clock has moved past it."""
        minute = int(self._clock() // 60)
        if minute != self._minute:
            self.flush()
            self._minute = minute

    def add(self, key: str, reason: str) -> None:
        self.tick()
        self._counts.setdefault(key, Counter())[reason] += 1

    def flush(self) -> None:
        started = datetime.fromtimestamp(self._minute * 60, UTC).isoformat()
        for key, reasons in self._counts.items():
            log.warning("webhook.rejected", connection_id=key, minute=started, count=reasons.total(),
                        reasons=dict(reasons))
        self._counts = {}


class Rejections:
    """Counts, logs and limits the intake's refusals; hands back the error to answer with."""

    def __init__(self, redis: Redis, *, clock: Clock = time.time, per_minute: int = BAD_SIGNATURES_PER_MINUTE) -> None:
        self._redis = redis
        self._clock = clock
        self._per_minute = per_minute
        self._log = RejectionLog(clock)

    def tick(self) -> None:
        self._log.tick()

    def flush(self) -> None:
        self._log.flush()

    def refuse(self, connection_id: uuid.UUID | None, reason: Reason, error: SkubridgeError) -> SkubridgeError:
        REJECTED.labels(reason).inc()
        self._log.add(str(connection_id) if connection_id else UNKNOWN, reason)
        return error

    async def bad_signature(self, connection_id: uuid.UUID, reason: Reason) -> SkubridgeError:
        """401, or 429 once the connection is past its bad signatures for this minute."""
        wait = await self._past_limit(connection_id)
        if wait is None:
            return self.refuse(connection_id, reason,
                               Unauthorized("the webhook signature is missing or does not match"))
        return self.refuse(connection_id, Reason.RATE_LIMITED, TooManyRequests(
            f"more than {self._per_minute} bad signatures this minute", retry_after=wait))

    async def _past_limit(self, connection_id: uuid.UUID) -> int | None:
        """Count one bad signature; the seconds left in the minute when it is past the limit.
        Without Redis nothing is counted: the request is refused all the same, as a 401."""
        now = self._clock()
        minute = int(now // 60)
        key = f"skubridge:webhook-bad-signatures:{connection_id}:{minute}"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 120)
                count, _ = await pipe.execute()
        except RedisError:
            return None
        if int(count) <= self._per_minute:
            return None
        return max(1, math.ceil((minute + 1) * 60 - now))
