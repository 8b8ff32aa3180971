"""Zoho's budget as several workers share it: a 429's Retry-After holds back every call of the
organization, calls in flight stay within ZOHO_MAX_CONCURRENCY, a spent day pauses with the
limit Zoho stated, and the token refresh lock is only ever released by its owner."""

from __future__ import annotations

import asyncio
import io
import time
import uuid

import httpx
import pytest
import redis.asyncio as aioredis
from PIL import Image

from app.config import Settings
from app.connections.adapters import shared_budget
from app.core.context import open_context
from app.integrations.zoho.client import ZohoClient
from app.integrations.zoho.concurrency import ConcurrencySlots
from app.integrations.zoho.errors import ZohoQuotaExhausted
from app.integrations.zoho.ratelimit import ZohoBudget, seconds_to_utc_midnight
from app.integrations.zoho.tokens import LOCK_TTL_S, TokenManager

ORG = "10234695"  # the simulator's organization


def client_for(zoho_server, *, budget: ZohoBudget, redis) -> ZohoClient:
    return ZohoClient(organization_id=ORG, client_id="1000.DEMOCLIENT", client_secret="demo-secret",
                      refresh_token="1000.demo-refresh", data_center="com", api_base_url=zoho_server.base_url,
                      accounts_base_url=zoho_server.base_url, budget=budget, redis=redis, max_retry_wait=60)


def worker_budget(settings, redis, *, max_concurrency: int) -> ZohoBudget:
    return ZohoBudget(redis_url=settings.redis_url, redis=redis, per_minute=100_000, daily_limit=None,
                      max_concurrency=max_concurrency)


def png_bytes(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (shade, 0, 0)).save(buffer, "PNG")
    return buffer.getvalue()


def items_with_images(zoho, count: int) -> dict[str, bytes]:
    rows = zoho.upsert_items([{"name": f"Lamp {n}", "sku": f"LAMP-{n}"} for n in range(count)])
    images = {row["item_id"]: png_bytes(n) for n, row in enumerate(rows)}
    for item_id, data in images.items():
        zoho.set_image(item_id, data, "png")
    return images


# --------------------------------------------------------------------------- Retry-After


async def test_a_429_holds_back_every_call_of_the_organization(ctx, zoho, zoho_server, settings, monkeypatch):
    """Every 4th call refused with Retry-After, item pages and image downloads from two workers
    at once: nothing arrives inside a Retry-After window, and every download succeeds.

    One call in flight per organization here: with more, a call already sent when another one's
    429 comes back cannot be recalled (the next test bounds those)."""
    images = items_with_images(zoho, 10)
    zoho.update_knobs({"throttle_every": 4, "retry_after_seconds": 1})
    monkeypatch.setattr("app.integrations.zoho.client.PER_PAGE", 3)  # four item pages
    workers = [aioredis.from_url(settings.redis_url) for _ in range(2)]
    clients = [client_for(zoho_server, budget=worker_budget(settings, r, max_concurrency=1), redis=r)
               for r in workers]

    async def pages() -> int:
        return sum([len(page) async for page in clients[0].iter_item_pages()])

    ids = list(images)
    listed, *downloaded = await asyncio.gather(
        pages(), *(clients[n % 2].download_item_image(item_id) for n, item_id in enumerate(ids)))
    assert listed == 10
    assert [image.data for image in downloaded] == [images[i] for i in ids]
    assert len(zoho.retry_windows) >= 3  # the refusals really happened
    assert zoho.arrivals_inside_retry_windows() == []
    for c in clients:
        await c.aclose()
    for r in workers:
        await r.aclose()


async def test_with_calls_in_flight_only_those_already_sent_land_inside_a_window(ctx, zoho, zoho_server,
                                                                                 settings):
    """Three in flight: a 429 can only be overtaken by the (at most two) calls sent before it
    came back; everything sent after waits the window out."""
    images = items_with_images(zoho, 16)
    zoho.update_knobs({"throttle_every": 4, "retry_after_seconds": 1, "latency_ms": 20})
    workers = [aioredis.from_url(settings.redis_url) for _ in range(2)]
    clients = [client_for(zoho_server, budget=worker_budget(settings, r, max_concurrency=3), redis=r)
               for r in workers]
    ids = list(images)
    downloaded = await asyncio.gather(*(clients[n % 2].download_item_image(i) for n, i in enumerate(ids)))
    assert [image.data for image in downloaded] == [images[i] for i in ids]
    windows = len(zoho.retry_windows)
    assert windows >= 4
    assert len(zoho.arrivals_inside_retry_windows()) <= 2 * windows
    # Without the shared block, the four downloads not refused would go on through each window.
    for c in clients:
        await c.aclose()
    for r in workers:
        await r.aclose()


# --------------------------------------------------------------------------- calls in flight


async def test_calls_in_flight_stay_within_zoho_max_concurrency(ctx, zoho, zoho_server, monkeypatch):
    """Two workers (each its own context, as built at start-up) and many parallel calls against a
    simulator that refuses a 4th call in flight: it never sees more than 3, never refuses one."""
    images = items_with_images(zoho, 12)
    zoho.update_knobs({"concurrency_limit": 3, "latency_ms": 30})
    monkeypatch.setenv("ZOHO_MAX_CONCURRENCY", "3")
    contexts = [await open_context(Settings()) for _ in range(2)]
    clients = [client_for(zoho_server, budget=shared_budget(c), redis=c.redis) for c in contexts]
    ids = list(images)
    calls = [clients[n % 2].download_item_image(i) for n, i in enumerate(ids)]
    calls += [clients[n % 2].get_item(i) for n, i in enumerate(ids)]
    results = await asyncio.gather(*calls)
    assert [image.data for image in results[:12]] == [images[i] for i in ids]
    assert [item.zoho_item_id for item in results[12:]] == ids
    stats = zoho.stats()
    assert stats["concurrency_refused"] == 0
    assert stats["max_in_flight"] == 3  # the calls did overlap, up to the limit
    for c, context in zip(clients, contexts, strict=True):
        await c.aclose()
        await context.close()


async def test_too_many_in_flight_is_retried_after_a_short_wait(ctx, zoho, zoho_server, settings):
    """A client allowed more than Zoho takes meets code 1070 and retries until each call goes."""
    zoho.generate_catalogue(3)
    zoho.update_knobs({"concurrency_limit": 2, "latency_ms": 30})
    redis = aioredis.from_url(settings.redis_url)
    async with client_for(zoho_server, budget=worker_budget(settings, redis, max_concurrency=20),
                          redis=redis) as client:
        ids = [row["item_id"] for row in zoho.all_items()]
        items = await asyncio.gather(*(client.get_item(ids[n % 3]) for n in range(12)))
    assert [item.zoho_item_id for item in items] == [ids[n % 3] for n in range(12)]
    assert zoho.stats()["concurrency_refused"] > 0
    assert zoho.stats()["max_in_flight"] <= 2
    await redis.aclose()


async def test_a_dead_workers_slot_comes_back_when_its_lease_lapses(settings):
    redis = aioredis.from_url(settings.redis_url)
    slots = ConcurrencySlots(redis=redis, limit=1, lease_seconds=0.3, key_prefix=f"test:slots:{uuid.uuid4().hex}")
    await slots.take("org")  # never given back: its worker died
    started = time.monotonic()
    lease = await slots.take("org")
    assert 0.2 <= time.monotonic() - started < 2
    await slots.give_back(lease)
    assert await slots.in_flight("org") == 0
    await redis.aclose()


# --------------------------------------------------------------------------- daily quota


async def test_a_spent_day_pauses_until_the_window_turns_and_records_the_stated_limit(ctx, zoho, zoho_server):
    zoho.generate_catalogue(2)
    zoho.update_knobs({"daily_limit": 2, "retry_after_seconds": None})  # Zoho states no wait
    async with client_for(zoho_server, budget=shared_budget(ctx), redis=ctx.redis) as client:
        await client.check_access()
        await client.check_access()
        with pytest.raises(ZohoQuotaExhausted, match="daily API limit of 2 calls") as caught:
            await client.check_access()
    assert caught.value.code == 45
    assert abs(caught.value.retry_after - seconds_to_utc_midnight()) < 5
    assert await shared_budget(ctx).stated_daily_limit(ORG) == 2
    calls = sum(zoho.stats()["requests"].values())
    async with client_for(zoho_server, budget=shared_budget(ctx), redis=ctx.redis) as other:
        with pytest.raises(ZohoQuotaExhausted):
            await other.check_access()
    assert sum(zoho.stats()["requests"].values()) == calls  # the other worker did not ask Zoho


async def test_a_spent_day_honours_the_retry_after_zoho_gives(ctx, zoho, zoho_server):
    zoho.update_knobs({"daily_limit": 1, "retry_after_seconds": 5400})
    async with client_for(zoho_server, budget=shared_budget(ctx), redis=ctx.redis) as client:
        await client.check_access()
        with pytest.raises(ZohoQuotaExhausted) as caught:
            await client.check_access()
    assert caught.value.retry_after == 5400
    assert await shared_budget(ctx).stated_daily_limit(ORG) == 1


# --------------------------------------------------------------------------- token refresh lock


async def test_a_refresh_lock_taken_over_is_not_released_by_its_old_holder(ctx):
    """The lock lapses while its holder is still refreshing and another worker takes it: the old
    holder, done, leaves the new owner's lock in place. The token request's timeouts are all
    below the lock's TTL."""
    manager: TokenManager | None = None
    timeouts: list[dict] = []

    async def accounts(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        lock_key = f"{manager._key}:lock"
        assert await ctx.redis.exists(lock_key)  # ours, while we ask
        await ctx.redis.set(lock_key, "another-worker", px=20_000)  # lapsed and taken over
        return httpx.Response(200, json={"access_token": "fresh", "expires_in": 3600})

    async with httpx.AsyncClient(transport=httpx.MockTransport(accounts)) as http:
        manager = TokenManager(redis=ctx.redis, http=http, accounts_url="http://accounts.test",
                               client_id=f"c-{uuid.uuid4().hex[:6]}", client_secret="s", refresh_token="r")
        token = await manager.get()
    assert token.value == "fresh"
    assert await ctx.redis.get(f"{manager._key}:lock") == b"another-worker"
    assert timeouts and all(0 < value < LOCK_TTL_S for value in timeouts[0].values())
