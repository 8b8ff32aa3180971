"""Zoho client against the simulator: tokens shared and refreshed once, the budget shared by
every process, 429s sat out, quota blocks and bad credentials reported as such."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis.asyncio as aioredis

from app.integrations.zoho.client import ZohoClient
from app.integrations.zoho.errors import ZohoAuthError, ZohoQuotaExhausted
from app.integrations.zoho.ratelimit import ZohoBudget


def client_for(ctx, zoho_server, *, budget=None, secret="demo-secret", max_retry_wait=120.0) -> ZohoClient:
    return ZohoClient(organization_id="10234695", client_id="1000.DEMOCLIENT", client_secret=secret,
                      refresh_token="1000.demo-refresh", data_center="com", api_base_url=zoho_server.base_url,
                      accounts_base_url=zoho_server.base_url, budget=budget or ctx.budget, redis=ctx.redis,
                      max_retry_wait=max_retry_wait)


async def test_many_concurrent_callers_share_one_token(ctx, zoho, zoho_server):
    zoho.generate_catalogue(30)
    clients = [client_for(ctx, zoho_server) for _ in range(8)]  # as if eight workers
    await asyncio.gather(*(c.check_access() for c in clients for _ in range(3)))
    assert zoho.stats()["tokens_issued"] == 1
    for c in clients:
        await c.aclose()


async def test_expired_token_is_refreshed_once_and_the_call_retried(ctx, zoho, zoho_server):
    zoho.generate_catalogue(5)
    async with client_for(ctx, zoho_server) as client:
        await client.check_access()
        zoho.expire_tokens()
        items = [i async for page in client.iter_item_pages() for i in page]
    assert len(items) == 5
    assert zoho.stats()["tokens_issued"] == 2


async def test_bad_client_secret_is_an_auth_error_without_retries(ctx, zoho, zoho_server):
    async with client_for(ctx, zoho_server, secret="nope") as client:
        with pytest.raises(ZohoAuthError, match="invalid_client"):
            await client.check_access()
    assert zoho.stats()["requests"].get("POST /oauth/v2/token") == 1


async def test_429_without_retry_after_waits_and_succeeds(ctx, zoho, zoho_server):
    zoho.generate_catalogue(5)
    zoho.update_knobs({"fail_next": [{"status": 429, "body": {"code": 44, "message": "Too many requests"},
                                      "headers": {}, "path_contains": "/items"}] * 2})
    async with client_for(ctx, zoho_server) as client:
        items = [i async for page in client.iter_item_pages() for i in page]
    assert len(items) == 5 and zoho.stats()["injected_faults"] == 2


async def test_long_retry_after_is_a_quota_block(ctx, zoho, zoho_server):
    zoho.update_knobs({"fail_next": [{"status": 429, "body": {"code": 45, "message": "daily limit"},
                                      "headers": {"Retry-After": "1800"}, "path_contains": "/items"}]})
    async with client_for(ctx, zoho_server, max_retry_wait=60) as client:
        with pytest.raises(ZohoQuotaExhausted, match="1800"):
            await client.check_access()


async def test_daily_budget_is_enforced_before_calling(ctx, zoho, zoho_server, settings):
    org = f"org-{uuid.uuid4().hex[:6]}"
    budget = ZohoBudget(redis_url=settings.redis_url, redis=ctx.redis, per_minute=1000, daily_limit=3)
    for _ in range(3):
        await budget.acquire(org)
    with pytest.raises(ZohoQuotaExhausted, match="daily API budget"):
        await budget.acquire(org)
    assert await budget.calls_today(org) == 3


async def test_budget_is_shared_across_processes(settings):
    """Two budgets on one Redis (two workers): no window ever holds more than the limit."""
    org = f"org-{uuid.uuid4().hex[:6]}"
    redis_a, redis_b = aioredis.from_url(settings.redis_url), aioredis.from_url(settings.redis_url)
    budgets = [ZohoBudget(redis_url=settings.redis_url, redis=r, per_minute=4, daily_limit=None, window_seconds=1)
               for r in (redis_a, redis_b)]
    stamps: list[float] = []

    async def call(budget: ZohoBudget) -> None:
        await budget.acquire(org)
        stamps.append(time.monotonic())

    await asyncio.gather(*(call(budgets[n % 2]) for n in range(12)))
    stamps.sort()
    assert len(stamps) == 12
    for n in range(len(stamps) - 4):
        assert stamps[n + 4] - stamps[n] >= 0.95, "five calls inside one second"
    for r in (redis_a, redis_b):
        await r.aclose()
