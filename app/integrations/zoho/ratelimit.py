"""Zoho's budget, shared by every worker process through Redis.

Per minute: a moving window (the `limits` library) of N requests per organization, so bursts
from several workers together never exceed Zoho's 100 requests a minute. Per day: a counter per
organization and day (midnight UTC: see `budget_day`); when a configured daily limit is reached, `ZohoQuotaExhausted`.
Blocks: when Zoho answers 429, the organization is blocked until its Retry-After has passed, and
every call of that organization, in every worker, waits the block out before it is sent.
In flight: at most `max_concurrency` calls per organization at once (app/integrations/zoho/
concurrency.py), taken only while no block is in force.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from app.core.scripts import run_script
from app.integrations.zoho.concurrency import ConcurrencySlots
from app.integrations.zoho.errors import ZohoQuotaExhausted

# Slots of each minute that image downloads leave to stock, price and webhook calls.
IMAGE_RESERVE = 10
# A concurrency lease outlives any call we make (10 s to connect, 60 s per read), so it only
# lapses when its worker died holding it.
SLOT_LEASE_SECONDS = 120.0

# The block is a key whose TTL is the time left, on Redis's clock, so workers on other hosts
# agree on when it ends without comparing clocks. A shorter block never shortens a longer one.
_BLOCK_AT_LEAST = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
"""


def utc_now() -> datetime:
    return datetime.now(UTC)


# Which day a call counts in. Zoho does not document when an Inventory organization's daily
# quota turns (shared/reference/operator.md §5: one connector assumes midnight in the data
# centre's zone, e.g. IST on .in); this counter turns at midnight UTC. That is the one guess,
# kept here: the daily counter's key, the wait after a spent quota when Zoho names none
# (client.daily_window_left) and the budget figures (`day_start`, `resets_at`) all follow it.
def budget_day(moment: datetime) -> date:
    """The day of Zoho's daily budget that `moment` falls in (see the comment above)."""
    return moment.astimezone(UTC).date()


def next_budget_day(moment: datetime) -> datetime:
    """When the daily counter of `moment`'s day starts again from 0."""
    return datetime.combine(budget_day(moment) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """An organization's use of its Zoho budget at one moment, as the budget counts it."""

    minute_used: int
    minute_limit: int
    window_seconds: int
    day: date
    day_used: int
    day_limit: int | None  # configured (ZOHO_DAILY_LIMIT)
    day_limit_stated: int | None  # the limit Zoho last stated in a code-45 refusal
    day_resets_at: datetime
    blocked_for: float  # seconds left of a 429's block


class ZohoBudget:
    def __init__(self, *, redis_url: str, redis: Redis, per_minute: int, daily_limit: int | None,
                 window_seconds: int = 61, max_concurrency: int = 5,
                 clock: Callable[[], datetime] = utc_now) -> None:
        uri = redis_url.replace("redis://", "async+redis://", 1).replace("rediss://", "async+rediss://", 1)
        self._storage = RedisStorage(uri, implementation="redispy", key_prefix="skubridge:zoho:rpm")
        self._limiter = MovingWindowRateLimiter(self._storage)
        # `per_minute` requests in any `window_seconds`: 61 in production, a second of margin
        # because Zoho counts a call when it arrives, not when we send it (at exactly 60 the
        # benchmark saw ~5 429s in 800 calls); tests shrink the window.
        self._per_minute = RateLimitItemPerSecond(per_minute, window_seconds)
        self._daily_limit = daily_limit
        self._window_seconds = window_seconds
        self._redis = redis
        # The wall clock that says which day a call counts in (tests set a fixed one).
        self.clock = clock
        self._slots = ConcurrencySlots(redis=redis, limit=max_concurrency, lease_seconds=SLOT_LEASE_SECONDS)

    async def acquire(self, organization_id: str, *, reserve: int = 0, max_wait: float | None = None) -> None:
        """Wait out a block, then until one more request fits the organization's minute window,
        and count it. A block longer than `max_wait` raises ZohoQuotaExhausted instead.

        `reserve` slots of the window are left to other calls: image downloads pass
        IMAGE_RESERVE, so a long image step never makes a webhook's item fetch wait behind it.
        (The check and the hit are two steps; two processes may now and then both take the last
        slot above the reserve. The window itself is never exceeded.)"""
        await self.wait_out_block(organization_id, max_wait=max_wait)
        await self._count_day(organization_id)
        while reserve:
            stats = await self._limiter.get_window_stats(self._per_minute, organization_id)
            if stats.remaining > reserve:
                break
            await asyncio.sleep(max(0.05, stats.reset_time - time.time()) + random.uniform(0, 0.05))
        while not await self._limiter.hit(self._per_minute, organization_id):
            stats = await self._limiter.get_window_stats(self._per_minute, organization_id)
            # Small jitter so workers that wake together do not stampede the freed slot.
            await asyncio.sleep(max(0.05, stats.reset_time - time.time()) + random.uniform(0, 0.05))

    @asynccontextmanager
    async def call_slot(self, organization_id: str, *, max_wait: float | None = None) -> AsyncIterator[None]:
        """One of the organization's in-flight slots, taken while no block is in force.

        A block recorded while this call waited for its slot is honoured too: the slot goes back,
        the block is waited out, and the call queues again (a 429 is recorded before its slot is
        given back, so the next holder always sees it)."""
        while True:
            lease = await self._slots.take(organization_id)
            if await self.blocked_for(organization_id) <= 0:
                break
            await self._slots.give_back(lease)
            await self.wait_out_block(organization_id, max_wait=max_wait)
        try:
            yield
        finally:
            await self._slots.give_back(lease)

    async def block(self, organization_id: str, *, seconds: float) -> None:
        """No call of the organization goes out for `seconds` (Zoho's Retry-After), unless a
        longer block is already in force."""
        block_ms = max(1, int(seconds * 1000))
        await run_script(self._redis, _BLOCK_AT_LEAST, [self._block_key(organization_id)], [block_ms])

    async def blocked_for(self, organization_id: str) -> float:
        """Seconds left of the organization's block; 0 when none is in force."""
        left_ms: int = await self._redis.pttl(self._block_key(organization_id))
        return max(0.0, left_ms / 1000)

    async def wait_out_block(self, organization_id: str, *, max_wait: float | None = None) -> None:
        while (left := await self.blocked_for(organization_id)) > 0:
            if max_wait is not None and left > max_wait:
                raise ZohoQuotaExhausted(
                    f"Zoho asked for calls of organization {organization_id} to stop for {left:.0f} s more; "
                    "the run is paused, resume it later", retry_after=left,
                )
            await asyncio.sleep(left + random.uniform(0, 0.05))

    async def record_daily_limit(self, organization_id: str, *, limit: int) -> None:
        """Keep the daily call limit Zoho stated for the organization (its plan's), for the
        budget figures; kept a month, as a plan rarely changes sooner."""
        await self._redis.set(self._daily_limit_key(organization_id), limit, ex=30 * 86400)

    async def stated_daily_limit(self, organization_id: str) -> int | None:
        """The daily limit Zoho last stated for the organization, if it ever did."""
        raw = await self._redis.get(self._daily_limit_key(organization_id))
        return int(raw) if raw is not None else None

    async def calls_today(self, organization_id: str) -> int:
        return int(await self._redis.get(self._day_key(organization_id)) or 0)

    async def use(self, organization_id: str) -> BudgetUse:
        """The organization's calls in the current minute window and today, against the limits;
        read only (nothing is counted)."""
        now = self.clock()
        stats = await self._limiter.get_window_stats(self._per_minute, organization_id)
        return BudgetUse(
            minute_used=max(0, self._per_minute.amount - stats.remaining), minute_limit=self._per_minute.amount,
            window_seconds=self._window_seconds, day=budget_day(now),
            day_used=int(await self._redis.get(self._day_key(organization_id, now)) or 0),
            day_limit=self._daily_limit, day_limit_stated=await self.stated_daily_limit(organization_id),
            day_resets_at=next_budget_day(now), blocked_for=await self.blocked_for(organization_id))

    async def _count_day(self, organization_id: str) -> None:
        key = self._day_key(organization_id)
        count = await self._redis.incr(key)
        if count == 1:
            await self._redis.expire(key, 2 * 86400)
        if self._daily_limit is not None and count > self._daily_limit:
            await self._redis.decr(key)
            raise ZohoQuotaExhausted(
                f"the Zoho daily API budget of {self._daily_limit} calls for organization {organization_id} is spent",
                retry_after=seconds_to_utc_midnight(self.clock()),
            )

    def _day_key(self, organization_id: str, moment: datetime | None = None) -> str:
        return f"skubridge:zoho:daily:{organization_id}:{budget_day(moment or self.clock()):%Y%m%d}"

    @staticmethod
    def _block_key(organization_id: str) -> str:
        return f"skubridge:zoho:blocked:{organization_id}"

    @staticmethod
    def _daily_limit_key(organization_id: str) -> str:
        return f"skubridge:zoho:daily-limit:{organization_id}"


def seconds_to_utc_midnight(now: datetime | None = None) -> float:
    """Seconds until the next budget day, when the daily counter above starts again."""
    now = now or utc_now()
    return (next_budget_day(now) - now).total_seconds()
