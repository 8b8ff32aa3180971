"""Zoho calls in flight per organization, counted across every worker process through Redis.

Zoho refuses more than a few concurrent calls per organization (code 1070; 5 on free plans, 10
on paid ones). A sorted set per organization holds one member per call in flight: an owner
token scored by the moment its lease lapses, on Redis's clock, so every process reads the same
time. A worker killed mid-call never gives its slot back; the lease lapsing does, and the next
`take` sweeps it out. No maintained library offers an asyncio Redis semaphore with leases, and
the whole of it is the two scripts below.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

from app.core.scripts import run_script

# KEYS[1]: the organization's set. ARGV: limit, owner token, lease in ms. 1 when taken.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

POLL_SECONDS = 0.02  # between tries for a full set; a Zoho call takes ten times that at least


@dataclass(frozen=True, slots=True)
class Lease:
    key: str
    owner: str


class ConcurrencySlots:
    def __init__(self, *, redis: Redis, limit: int, lease_seconds: float,
                 key_prefix: str = "skubridge:zoho:inflight") -> None:
        self._redis = redis
        self._limit = limit
        self._lease_ms = int(lease_seconds * 1000)
        self._prefix = key_prefix

    async def take(self, organization_id: str) -> Lease:
        """Wait for one of the organization's slots and hold it until `give_back`."""
        lease = Lease(f"{self._prefix}:{organization_id}", secrets.token_hex(8))
        while not await run_script(self._redis, _TAKE, [lease.key], [self._limit, lease.owner, self._lease_ms]):
            # Jitter, so waiters in several processes do not all try the freed slot at once.
            await asyncio.sleep(POLL_SECONDS * random.uniform(0.5, 1.5))
        return lease

    async def give_back(self, lease: Lease) -> None:
        """Free the slot; one whose lease lapsed and was swept is simply gone."""
        await self._redis.zrem(lease.key, lease.owner)

    async def in_flight(self, organization_id: str) -> int:
        return int(await self._redis.zcard(f"{self._prefix}:{organization_id}"))
