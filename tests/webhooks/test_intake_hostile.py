"""The intake under attack: hostile signature headers, floods of unsigned or forged requests,
the bad-signature limit, what moves `last_received_at`, and the index behind the queued events.

Time is an injected clock: a flood "in one minute" is one whatever the machine's speed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

from app.core.errors import Unauthorized
from app.db.migrate import alembic_config
from app.main import create_app
from app.models import WebhookEvent
from app.webhooks import processing, rejections
from app.webhooks.intake import Intake
from app.webhooks.rejections import Reason, Rejections
from app.webhooks.signature import as_digest, sign, verify
from simulators.server import ServerThread
from tests.webhooks.test_webhooks import enabled_connection, secret_of

pytestmark = pytest.mark.timeout(120)
MINUTE_START = 1_800_000_000.0  # a whole minute since the epoch


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class LogLines:
    """Stands in for the rejections module's logger."""

    def __init__(self) -> None:
        self.lines: list[dict] = []

    def warning(self, event: str, **fields) -> None:
        self.lines.append({"event": event, **fields})


@pytest.fixture
def log_lines(monkeypatch) -> LogLines:
    lines = LogLines()
    monkeypatch.setattr(rejections, "log", lines)
    return lines


@contextlib.asynccontextmanager
async def intake_client(ctx, settings, clock: FakeClock) -> AsyncIterator[tuple[httpx.AsyncClient, Intake]]:
    """Another API process on the same Postgres and Redis, its intake on `clock`."""
    app = create_app(settings, ctx=ctx)
    app.state.ctx = ctx
    app.state.webhook_intake = intake = Intake.create(ctx, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client, intake
    await intake.aclose()


async def post(client: httpx.AsyncClient, connection_id: str, body: bytes, signature: str | bytes | None,
               ) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Zoho-Webhook-Signature"] = signature
    return await client.post(f"/webhooks/zoho/{connection_id}", content=body, headers=headers)


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("skubridge_webhook_rejected_total", {"reason": reason}) or 0.0


async def event_rows(ctx, connection_id: str | None = None) -> int:
    query = select(func.count()).select_from(WebhookEvent)
    if connection_id:
        query = query.where(WebhookEvent.connection_id == uuid.UUID(connection_id))
    async with ctx.sessionmaker() as session:
        return int(await session.scalar(query))


def item_body(item_id: str = "4815000000044208") -> bytes:
    return json.dumps({"item": {"item_id": item_id}}).encode()


# ------------------------------------------------------------------------- the signature header


def test_any_header_value_is_compared_as_bytes_without_raising():
    body, secret = item_body(), "s3cretS3cretS3cret"
    good = sign(secret, [], body)
    assert verify(secret, [], body, good) and verify(secret, [], body, f"  {good.upper()} ")
    hostile = ["é" * 64, "\udcff" * 64, "\ud800" * 64, "ÿ" * 64, "a" * 100_000, good[:63] + "g", good + "0", "", None]
    for value in hostile:
        assert as_digest(value) is None, repr(value)[:40]
        assert verify(secret, [], body, value) is False
    assert verify(secret, [], body, "0" * 64) is False


async def test_non_ascii_and_huge_signature_headers_get_a_clean_401_over_real_http(
        api, ctx, settings, zoho, store, zoho_server, woo_server):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, lambda: None, sync_first=False, count=3)
    body = item_body(zoho.all_items()[0]["item_id"])
    server = ServerThread(create_app(settings)).start()  # uvicorn parses the raw header bytes
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            for raw in (b"\xc3\xa9" * 32, b"\xff" * 64, "é".encode() + b"0" * 62, b"a" * 8_000, b"\x80"):
                response = await post(client, conn["id"], body, raw)
                assert response.status_code == 401, (raw[:10], response.text)
                assert response.json() == {"error": "Unauthorized",
                                           "detail": "the webhook signature is missing or does not match"}
            genuine = await post(client, conn["id"], body, sign(await secret_of(ctx, conn["id"]), [], body))
            assert genuine.status_code == 202 and genuine.json()["outcome"] == "queued"
    finally:
        server.stop()
    assert await event_rows(ctx, conn["id"]) == 1


# ---------------------------------------------------------------- floods: no rows, one log line


async def test_an_unsigned_flood_leaves_no_rows_and_one_log_line(api, ctx, settings, zoho, store, zoho_server,
                                                                 woo_server, log_lines):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, lambda: None, sync_first=False, count=3)
    clock = FakeClock(MINUTE_START + 5)
    before = {reason: rejected(reason) for reason in Reason}
    async with intake_client(ctx, settings, clock) as (client, _):
        statuses = [(await post(client, conn["id"], item_body(), None)).status_code for _ in range(300)]
        assert statuses == [401] * 100 + [429] * 200
        assert await event_rows(ctx) == 0
        assert rejected(Reason.MISSING_SIGNATURE) - before[Reason.MISSING_SIGNATURE] == 100
        assert rejected(Reason.RATE_LIMITED) - before[Reason.RATE_LIMITED] == 200
        assert sum(rejected(reason) for reason in Reason) - sum(before.values()) == 300
        assert log_lines.lines == []  # the minute is not over

        clock.now += 60  # the next minute's first request, a genuine one, writes the last minute's line
        body = item_body(zoho.all_items()[0]["item_id"])
        genuine = await post(client, conn["id"], body, sign(await secret_of(ctx, conn["id"]), [], body))
        assert genuine.status_code == 202
    assert log_lines.lines == [{
        "event": "webhook.rejected", "connection_id": conn["id"], "minute": "2027-01-15T08:00:00+00:00",
        "count": 300, "reasons": {"missing_signature": 100, "rate_limited": 200}}]
    assert await event_rows(ctx) == 1


async def test_unknown_connections_are_summed_under_one_key_and_written_at_shutdown(ctx, settings, log_lines):
    before = rejected(Reason.UNKNOWN_CONNECTION)
    async with intake_client(ctx, settings, FakeClock(MINUTE_START)) as (client, _):
        for connection_id in [uuid.uuid4() for _ in range(20)] + ["not-a-uuid"]:
            response = await post(client, str(connection_id), item_body(), "0" * 64)
            assert response.status_code == 404 and response.json()["error"] == "NotFound"
        assert log_lines.lines == []
    # The intake's aclose (the API's shutdown) writes what the minute had so far.
    assert [(line["connection_id"], line["count"], line["reasons"]) for line in log_lines.lines] == [
        ("unknown", 21, {"unknown_connection": 21})]
    assert rejected(Reason.UNKNOWN_CONNECTION) - before == 21
    assert await event_rows(ctx) == 0


async def test_a_disabled_webhook_is_refused_without_a_row(api, ctx, settings, zoho, store, zoho_server, woo_server,
                                                           log_lines):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, lambda: None, sync_first=False, count=3)
    secret = await secret_of(ctx, conn["id"])
    assert (await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": False})).status_code == 200
    before = rejected(Reason.WEBHOOK_DISABLED)
    async with intake_client(ctx, settings, FakeClock(MINUTE_START)) as (client, _):
        response = await post(client, conn["id"], item_body(), sign(secret, [], item_body()))
    assert response.status_code == 404
    assert rejected(Reason.WEBHOOK_DISABLED) - before == 1
    assert log_lines.lines[0]["connection_id"] == conn["id"] and log_lines.lines[0]["reasons"] == {
        "webhook_disabled": 1}
    assert await event_rows(ctx) == 0


# ---------------------------------------------------------------------- the bad-signature limit


async def test_past_100_bad_signatures_a_minute_the_rest_get_429_and_zoho_still_gets_through(
        api, ctx, settings, zoho, store, zoho_server, woo_server):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, lambda: None, sync_first=False, count=3)
    other = await enabled_connection(api, zoho, zoho_server, woo_server, lambda: None, sync_first=False, count=3)
    body = item_body(zoho.all_items()[0]["item_id"])
    forged, genuine = sign("not-the-secret", [], body), sign(await secret_of(ctx, conn["id"]), [], body)
    clock = FakeClock(MINUTE_START + 45)
    # Two API processes: the count is shared through Redis.
    async with intake_client(ctx, settings, clock) as (first, _), intake_client(ctx, settings, clock) as (second, _):
        responses = [await post((first, second)[n % 2], conn["id"], body, forged) for n in range(150)]
        assert [r.status_code for r in responses] == [401] * 100 + [429] * 50
        assert {r.headers.get("retry-after") for r in responses[100:]} == {"15"}
        assert responses[-1].json() == {"error": "TooManyRequests",
                                        "detail": "more than 100 bad signatures this minute"}
        assert "retry-after" not in responses[0].headers

        during = await post(second, conn["id"], body, genuine)  # Zoho's own event, in the middle of the flood
        assert during.status_code == 202 and during.json()["outcome"] == "queued"
        assert (await post(first, other["id"], body, forged)).status_code == 401  # per connection
        assert (await post(first, conn["id"], body, None)).status_code == 429

        clock.now += 15  # a new minute, a new count
        assert (await post(first, conn["id"], body, forged)).status_code == 401
    assert await event_rows(ctx) == 1


async def test_without_redis_a_bad_signature_is_still_a_401():
    unreachable = aioredis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.5)
    try:
        refusal = await Rejections(unreachable, clock=FakeClock(MINUTE_START)).bad_signature(
            uuid.uuid4(), Reason.BAD_SIGNATURE)
    finally:
        await unreachable.aclose()
    assert isinstance(refusal, Unauthorized)


# ---------------------------------------------------------------------------- last_received_at


async def test_last_received_at_moves_only_for_verified_events(api, ctx, settings, zoho, store, zoho_server,
                                                               woo_server):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, lambda: None, sync_first=False, count=3)
    secret = await secret_of(ctx, conn["id"])
    body = item_body(zoho.all_items()[0]["item_id"])
    state = f"/api/v1/connections/{conn['id']}/webhook"
    assert (await api.get(state)).json()["last_received_at"] is None
    async with intake_client(ctx, settings, FakeClock(MINUTE_START)) as (client, _):
        assert (await post(client, conn["id"], body, sign("forged", [], body))).status_code == 401
        assert (await post(client, conn["id"], body, None)).status_code == 401
        assert (await post(client, conn["id"], b"[]", sign(secret, [], b"[]"))).status_code == 400  # a rejected row
        assert (await api.get(state)).json()["last_received_at"] is None

        accepted = await post(client, conn["id"], body, sign(secret, [], body))
        assert accepted.status_code == 202
    async with ctx.sessionmaker() as session:
        received = await session.scalar(select(WebhookEvent.received_at).where(
            WebhookEvent.id == accepted.json()["event_id"]))
    last = (await api.get(state)).json()["last_received_at"]
    assert last is not None and datetime.fromisoformat(last) == received


# --------------------------------------------------------------------------- the queued-events index


async def test_the_queued_event_queries_read_the_partial_index(ctx):
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    async with ctx.engine.begin() as conn:
        await conn.execute(text("""
            INSERT INTO webhook_events (connection_id, received_at, zoho_item_id, outcome)
            SELECT CASE WHEN n % 2 = 0 THEN CAST(:busy AS uuid) ELSE CAST(:quiet AS uuid) END,
                   now() - make_interval(secs => n), n::text,
                   CASE WHEN n % 1000 = 0 THEN 'queued' ELSE 'synced' END
            FROM generate_series(1, 20000) AS n"""), {"busy": busy, "quiet": quiet})
        await conn.execute(text("ANALYZE webhook_events"))
    async with ctx.engine.begin() as conn:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))  # the question is which index, not whether
        started = await conn.scalar(text("SELECT now()"))
        queries = [(processing._QUEUED_ITEMS, {"connection_id": busy, "started": started, "size": 9}, "connection_id"),
                   (processing._MORE_EVENTS, {"connection_id": quiet}, "connection_id"),
                   (processing._STALE_EVENTS, {"age": 30.0}, "received_at")]
        for query, params, searched_by in queries:
            plan = "\n".join((await conn.execute(text("EXPLAIN " + query.text), params)).scalars())
            assert re.search(rf"ix_webhook_events_queued .*\n\s*Index Cond: \(+{searched_by} ", plan), plan


async def test_the_index_migration_goes_down_and_up(ctx, settings):
    from alembic import command

    async def indexes() -> set[str]:
        async with ctx.engine.connect() as conn:
            return set((await conn.execute(text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'webhook_events'"))).scalars())

    config = alembic_config(settings.database_url)
    await asyncio.to_thread(command.downgrade, config, "0005")
    assert "ix_webhook_events_queued" not in await indexes()
    await asyncio.to_thread(command.upgrade, config, "head")
    assert "ix_webhook_events_queued" in await indexes()
    async with ctx.engine.connect() as conn:
        valid = await conn.scalar(text("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                                       "'ix_webhook_events_queued'::regclass"))
    assert valid is True
