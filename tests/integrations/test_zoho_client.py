"""Zoho client against the simulator: tokens shared and refreshed once, the budget shared by
every process, 429s sat out, quota blocks and bad credentials reported as such; item images
downloaded within a size limit, and the members of an item group."""

from __future__ import annotations

import asyncio
import io
import re
import time
import uuid

import httpx
import pytest
import redis.asyncio as aioredis
from PIL import Image

from app.connections.adapters import shared_budget
from app.integrations.metrics import VENDOR_REQUESTS
from app.integrations.zoho.client import ZohoClient
from app.integrations.zoho.errors import (
    ZohoAuthError,
    ZohoError,
    ZohoImageUnavailable,
    ZohoQuotaExhausted,
    ZohoRequestError,
)
from app.integrations.zoho.images import DownloadedImage
from app.integrations.zoho.ratelimit import ZohoBudget


def client_for(ctx, zoho_server, *, budget=None, secret="demo-secret", max_retry_wait=120.0) -> ZohoClient:
    return ZohoClient(organization_id="10234695", client_id="1000.DEMOCLIENT", client_secret=secret,
                      refresh_token="1000.demo-refresh", data_center="com", api_base_url=zoho_server.base_url,
                      accounts_base_url=zoho_server.base_url, budget=budget or shared_budget(ctx), redis=ctx.redis,
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


async def test_long_retry_after_is_a_quota_block_for_every_worker(ctx, zoho, zoho_server):
    zoho.update_knobs({"fail_next": [{"status": 429, "body": {"code": 44, "message": "Too many requests"},
                                      "headers": {"Retry-After": "1800"}, "path_contains": "/items"}]})
    async with client_for(ctx, zoho_server, max_retry_wait=60) as client:
        with pytest.raises(ZohoQuotaExhausted, match="1800") as caught:
            await client.check_access()
    assert caught.value.retry_after == 1800
    calls = sum(zoho.stats()["requests"].values())
    async with client_for(ctx, zoho_server, max_retry_wait=60) as other:  # another worker, same organization
        with pytest.raises(ZohoQuotaExhausted) as blocked:
            await other.check_access()
    assert 1790 < blocked.value.retry_after <= 1800
    assert sum(zoho.stats()["requests"].values()) == calls  # refused without asking Zoho again


async def test_daily_budget_is_enforced_before_calling(ctx, zoho, zoho_server, settings):
    org = f"org-{uuid.uuid4().hex[:6]}"
    budget = ZohoBudget(redis_url=settings.redis_url, redis=ctx.redis, per_minute=1000, daily_limit=3)
    for _ in range(3):
        await budget.acquire(org)
    with pytest.raises(ZohoQuotaExhausted, match="daily API budget") as caught:
        await budget.acquire(org)
    assert await budget.calls_today(org) == 3
    assert 0 < caught.value.retry_after <= 86400  # the next UTC midnight


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


async def test_image_downloads_leave_a_reserve_to_other_calls(settings):
    """With the window nearly spent, a call with a reserve waits while an ordinary call goes."""
    org = f"org-{uuid.uuid4().hex[:6]}"
    redis = aioredis.from_url(settings.redis_url)
    budget = ZohoBudget(redis_url=settings.redis_url, redis=redis, per_minute=5, daily_limit=None, window_seconds=1)
    for _ in range(3):
        await budget.acquire(org)
    started = time.monotonic()
    low = asyncio.create_task(budget.acquire(org, reserve=2))  # 2 left, both reserved
    await asyncio.sleep(0.2)
    assert not low.done()
    await budget.acquire(org)  # an ordinary call takes a reserved slot at once
    assert time.monotonic() - started < 0.5
    await low  # the image call goes once the window moves on
    assert time.monotonic() - started >= 0.9
    await redis.aclose()


# --------------------------------------------------------------------------- item images and groups


def png_bytes(colour: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, "PNG")
    return buffer.getvalue()


def new_item(zoho, sku: str = "LAMP-1") -> str:
    return zoho.upsert_items([{"name": "Desk lamp", "sku": sku}])[0]["item_id"]


async def test_download_item_image_goes_through_the_usual_call_path(ctx, zoho, zoho_server):
    item_id = new_item(zoho)
    zoho.set_image(item_id, png_bytes(), "png")
    zoho.update_knobs({"fail_next": [{"status": 429, "body": {"code": 44, "message": "Too many requests"},
                                      "headers": {"Retry-After": "0"}, "path_contains": "/image"}]})
    before = VENDOR_REQUESTS.labels("zoho", "GET /items/{item_id}/image", "200")._value.get()
    async with client_for(ctx, zoho_server) as client:
        await client.check_access()
        zoho.expire_tokens()  # the image call meets a 401 first, refreshes once and goes on
        image = await client.download_item_image(item_id)
    assert image == DownloadedImage(png_bytes(), "image/png", "lamp-1.png")
    assert zoho.stats()["requests"]["GET /items/{item_id}/image"] == 3  # 401, 429, 200
    assert zoho.stats()["tokens_issued"] == 2
    assert VENDOR_REQUESTS.labels("zoho", "GET /items/{item_id}/image", "200")._value.get() == before + 1


async def test_bytes_that_are_not_an_image_are_passed_on_as_they_came(ctx, zoho, zoho_server):
    item_id = new_item(zoho)
    truncated = png_bytes()[:30]
    async with client_for(ctx, zoho_server) as client:
        zoho.set_image(item_id, b"just some text", "png")
        assert (await client.download_item_image(item_id)).data == b"just some text"
        zoho.set_image(item_id, truncated, "jpg")
        image = await client.download_item_image(item_id)
    assert (image.data, image.content_type) == (truncated, "image/jpeg")


async def test_missing_broken_empty_and_unknown_images_are_unavailable(ctx, zoho, zoho_server):
    """Zero bytes is no image: refused here with a reason, like a missing one, rather than
    handed on for the optimiser to refuse."""
    with_image, without, empty = new_item(zoho, "A-1"), new_item(zoho, "B-1"), new_item(zoho, "C-1")
    zoho.set_image(with_image, png_bytes(), "png")
    zoho.set_image(empty, b"", "png")
    zoho.update_knobs({"broken_images": [with_image]})
    assert zoho.get_item(with_image)["image_name"] == "a-1.png"  # still listed
    async with client_for(ctx, zoho_server) as client:
        for item_id, reason, status in ((with_image, "Image does not exist.", 404),
                                        (without, "Image does not exist.", 404),
                                        ("4815000000000001", "Item does not exist.", 404),
                                        (empty, "empty image (0 bytes)", None)):
            with pytest.raises(ZohoImageUnavailable) as caught:
                await client.download_item_image(item_id)
            assert reason in caught.value.reason and caught.value.status == status
            assert isinstance(caught.value, ZohoError)
    assert zoho.stats()["requests"]["GET /items/{item_id}/image"] == 4  # none retried


def mocked_client(ctx, answer: httpx.Response) -> ZohoClient:
    """A client whose every API call gets `answer` (the token endpoint works)."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v2/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        return answer

    return ZohoClient(organization_id="1", client_id="c", client_secret="s", refresh_token="r", data_center="com",
                      api_base_url="http://zoho.test", accounts_base_url="http://zoho.test", budget=shared_budget(ctx),
                      redis=ctx.redis, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (httpx.Response(200, json={"code": 1004, "message": "No image found."}), ZohoImageUnavailable,
         "Zoho sent no image for item 1: No image found."),
        (httpx.Response(200, json={"code": 0, "message": "success"}), ZohoImageUnavailable, "success"),
        (httpx.Response(302, headers={"Location": "https://cdn.example/x.png"}), ZohoImageUnavailable, "HTTP 302"),
        (httpx.Response(400, json={"code": 2, "message": "Invalid value passed for item_id"}), ZohoRequestError,
         "Zoho error 2: Invalid value passed for item_id (HTTP 400)"),
        (httpx.Response(403, json={"code": 57, "message": "You are not authorized"}), ZohoAuthError,
         "Zoho error 57"),
    ],
)
async def test_answers_without_image_bytes(ctx, answer, error, message):
    """A JSON envelope where bytes were expected is "no image"; errors other than a 404 stay
    the errors every other call raises."""
    async with mocked_client(ctx, answer) as client:
        with pytest.raises(error, match=re.escape(message)) as caught:
            await client.download_item_image("1")
    assert type(caught.value) is error


async def test_an_image_over_max_bytes_is_refused_without_reading_it_all(ctx, zoho, zoho_server):
    item_id = new_item(zoho)
    zoho.set_image(item_id, png_bytes() + b"\0" * 5000, "png")
    async with client_for(ctx, zoho_server) as client:
        with pytest.raises(ZohoImageUnavailable, match=r"is 5\d+ bytes, over the limit of 1000"):
            await client.download_item_image(item_id, max_bytes=1000)  # Content-Length says so
    pulled = []

    async def body():
        for n in range(10):
            pulled.append(n)
            yield b"\0" * 1024

    # Chunked, with no Content-Length: only counting while reading can stop it.
    async with mocked_client(ctx, httpx.Response(200, headers={"Content-Type": "image/png"}, content=body())) as client:
        with pytest.raises(ZohoImageUnavailable, match="over the limit of 3000 bytes"):
            await client.download_item_image("1", max_bytes=3000)
    assert len(pulled) == 3


async def test_get_group_reads_one_group_with_every_member_in_one_call(ctx, zoho, zoho_server):
    zoho.generate_catalogue(60, groups=4)
    rows = zoho.all_items()
    group_id = next(row["group_id"] for row in rows if row["group_id"])
    members = {row["item_id"]: row for row in rows if row["group_id"] == group_id}
    zoho.patch_item(min(members), {"status": "inactive"})
    carrier = max(members)
    zoho.set_image(carrier, b"\x89PNG\r\n\x1a\n-group-picture", "png", "front.png")
    document = zoho.get_item(carrier)["image_document_id"]
    zoho.set_group(group_id, {"group_name": "Linen shirt", "description": "Woven in Lisbon.",
                              "image_document_id": document, "image_name": "front.png", "image_type": "png"})
    zoho.reset_stats()
    async with client_for(ctx, zoho_server) as client:
        group = await client.get_group(group_id)
        assert await client.get_group("4815000000000001") is None
    assert group is not None and group.name == "Linen shirt" and group.description == "Woven in Lisbon."
    assert group.image_item_id == carrier and group.image_key == f"{carrier}/{document}/front.png/png"
    assert sorted(i.zoho_item_id for i in group.items) == sorted(members)
    assert {i.group_id for i in group.items} == {group_id} and not all(i.active for i in group.items)
    assert all(i.group_name == "Linen shirt" and i.attributes for i in group.items)
    assert zoho.stats()["requests"]["GET /itemgroups/{group_id}"] == 2  # one each, the unknown one included


async def test_group_pages_hold_every_group_200_a_page(ctx, zoho, zoho_server, monkeypatch):
    zoho.generate_catalogue(60, groups=5)
    group_ids = {row["group_id"] for row in zoho.all_items() if row["group_id"]}
    zoho.set_group(min(group_ids), {"description": "The group's own words."})
    monkeypatch.setattr("app.integrations.zoho.client.PER_PAGE", 2)  # several pages
    zoho.reset_stats()
    async with client_for(ctx, zoho_server) as client:
        groups = [g async for page in client.iter_group_pages() for g in page]
    assert sorted(g.group_id for g in groups) == sorted(group_ids) and not any(g.items for g in groups)
    assert next(g for g in groups if g.group_id == min(group_ids)).description == "The group's own words."
    assert zoho.stats()["requests"]["GET /itemgroups"] == 3  # 5 groups, 2 a page
