"""Jobs that die, wait or fail for a while: a worker killed mid-pass, a store answering 503 for
longer than any retry count, two enables at once, previews whose job was lost, and events
settled by a later run."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy import select, text

from app.models import Preview, WebhookEvent
from app.previews.service import LOST, REQUEUED
from app.webhooks import catchup, outcomes
from tests.helpers import create_connection, sim, start_run, store_by_sku, wait_for_run
from tests.webhooks.test_webhooks import deliver, enabled_connection, events, wait_settled

pytestmark = pytest.mark.timeout(180)


def active_items(zoho, count: int) -> list[dict]:
    return [i for i in zoho.all_items() if i["status"] == "active" and i.get("sku") and not i.get("group_id")][:count]


async def test_two_concurrent_enables_make_one_webhook_and_hold_no_transaction_during_zoho_calls(
        api, ctx, zoho, store, zoho_server, woo_server):
    zoho.generate_catalogue(3, seed=11)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    zoho.update_knobs({"latency_ms": 300})  # each Zoho call takes a while: time to look at Postgres
    url = f"/api/v1/connections/{conn['id']}/webhook"
    both = asyncio.gather(api.put(url, json={"enabled": True}), api.put(url, json={"enabled": True}))
    idle_in_transaction = 0
    while not both.done():
        idle_in_transaction += await _idle_in_transaction(ctx)
        await asyncio.sleep(0.05)
    first, second = await both
    zoho.update_knobs({"latency_ms": 0})
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert len(zoho.webhooks) == 1 and len(zoho.workflows) == 1
    [hook] = zoho.webhooks.values()
    assert first.json()["zoho_webhook_id"] == second.json()["zoho_webhook_id"] == hook["webhook_id"]
    assert idle_in_transaction == 0

    both = asyncio.gather(api.put(url, json={"enabled": False}), api.delete(f"/api/v1/connections/{conn['id']}"))
    off, deleted = await both
    assert deleted.status_code == 204 and off.status_code in (200, 404)
    assert zoho.webhooks == {} and zoho.workflows == {}


async def _idle_in_transaction(ctx) -> int:
    async with ctx.engine.connect() as conn:
        return int(await conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction' AND pid <> pg_backend_pid() "
            # held longer than a moment between two statements: as long as a Zoho call (300 ms)
            "AND now() - state_change > interval '200 milliseconds'")))


async def test_a_pass_killed_with_its_worker_is_taken_over_within_seconds(api, ctx, zoho, store, zoho_server,
                                                                           woo_server, worker):
    started = []
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, lambda: started.append(worker()))
    items = active_items(zoho, 8)
    for n, item in enumerate(items):
        zoho.patch_item(item["item_id"], {"rate": 60 + n})
    sim(woo_server.base_url, "POST", "/stats/reset")
    sim(woo_server.base_url, "PUT", "/config", json={"per_item_latency_ms": 3000})  # the write hangs
    for item in items:
        assert (await deliver(api, ctx, conn["id"], {"item_id": item["item_id"]})).status_code == 202
    await _until(lambda: _store_batches(woo_server) > 0, timeout=20)  # the pass is writing
    started[0].kill()
    killed_at = time.monotonic()
    sim(woo_server.base_url, "PUT", "/config", json={"per_item_latency_ms": 0})
    worker()
    rows = await wait_settled(api, conn["id"], len(items), timeout=60)
    took = time.monotonic() - killed_at
    assert took < 30, took  # was 12 h: arq's in-progress key of the killed job, and the pass lock 5 min
    assert {r["outcome"] for r in rows} <= {"synced", "unchanged"}, rows
    products = store_by_sku(woo_server.base_url)
    assert [float(products[i["sku"]]["regular_price"]) for i in items] == [60 + n for n in range(len(items))]


def _store_batches(woo_server) -> int:
    return sim(woo_server.base_url, "GET", "/stats")["requests"].get("POST /products/batch", 0)


async def test_a_store_down_for_many_passes_leaves_events_queued_then_synced(api, ctx, zoho, store, zoho_server,
                                                                             woo_server, worker, monkeypatch):
    monkeypatch.setenv("WEBHOOK_RETRY_CAP_SECONDS", "0.3")  # the worker's back-off, not 10 min
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, worker)
    [item] = active_items(zoho, 1)
    zoho.patch_item(item["item_id"], {"rate": 81.5})
    sim(woo_server.base_url, "PUT", "/config", json={"rate_5xx": 1.0})
    assert (await deliver(api, ctx, conn["id"], {"item_id": item["item_id"]})).status_code == 202
    failures = f"skubridge:webhook-failures:{conn['id']}"
    await _until(lambda: _failures(ctx, failures), value=12, timeout=60)  # past arq's old 8 tries
    [event] = await events(api, conn["id"])
    assert event["outcome"] == "queued"
    sim(woo_server.base_url, "PUT", "/config", json={"rate_5xx": 0.0})
    [event] = await wait_settled(api, conn["id"], 1, timeout=30)
    assert event["outcome"] == "synced" and event["run_id"]
    assert store_by_sku(woo_server.base_url)[item["sku"]]["regular_price"] == "81.50"
    assert not await ctx.redis.exists(failures)


async def _failures(ctx, key: str) -> int:
    return int(await ctx.redis.get(key) or 0)


async def test_a_later_pass_or_catch_up_settles_events_that_failed_before(api, ctx, zoho, store, zoho_server,
                                                                          woo_server, worker):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, worker)
    first, second = active_items(zoho, 2)
    async with ctx.sessionmaker() as session, session.begin():
        session.add_all([WebhookEvent(connection_id=uuid.UUID(conn["id"]), zoho_item_id=i["item_id"], sku=i["sku"],
                                      outcome="failed", detail="the store did not answer") for i in (first, second)])
    zoho.patch_item(first["item_id"], {"rate": 71.25})
    assert (await deliver(api, ctx, conn["id"], {"item_id": first["item_id"]})).status_code == 202
    rows = await wait_settled(api, conn["id"], 3)
    mine = [r for r in rows if r["zoho_item_id"] == first["item_id"]]
    assert [r["outcome"] for r in mine] == ["synced", "synced"] and len({r["run_id"] for r in mine}) == 1

    zoho.patch_item(second["item_id"], {"rate": 72.5})
    run_id = await catchup.catch_up(ctx, uuid.UUID(conn["id"]))
    [settled] = [r for r in await events(api, conn["id"]) if r["zoho_item_id"] == second["item_id"]]
    assert settled["outcome"] == "synced" and settled["run_id"] == str(run_id)


async def test_lost_previews_are_computed_again_once_then_failed(api, ctx, zoho, store, zoho_server, woo_server,
                                                                 worker):
    zoho.generate_catalogue(5, seed=3)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    connection_id = uuid.UUID(conn["id"])
    async with ctx.sessionmaker() as session, session.begin():
        # no job was ever enqueued for these: as if Redis lost them, or their worker died
        queued = Preview(connection_id=connection_id, status="queued")
        running = Preview(connection_id=connection_id, status="running")
        twice = Preview(connection_id=connection_id, status="queued", reason=REQUEUED)
        session.add_all([queued, running, twice])
        await session.flush()
        await session.execute(text("UPDATE previews SET created_at = now() - interval '1 hour'"))
    worker()  # its recovery cron runs at start-up and every second under the test settings

    async def final() -> dict:
        async with ctx.sessionmaker() as session:
            rows = (await session.scalars(select(Preview))).all()
            return {p.id: p for p in rows if p.status in ("completed", "failed")}

    await _until(final, predicate=lambda done: {queued.id, running.id, twice.id} <= set(done), timeout=60)
    done = await final()
    assert done[queued.id].status == done[running.id].status == "completed"
    assert done[queued.id].summary and done[running.id].reason is None
    assert done[twice.id].status == "failed" and done[twice.id].reason == LOST


async def _until(probe, *, value=None, predicate=None, timeout: float) -> None:
    """Poll `probe()` (sync or async) until it is truthy, reaches `value`, or passes `predicate`."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if asyncio.iscoroutine(got):
            got = await got
        if predicate(got) if predicate else (got >= value if value is not None else bool(got)):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout}s: {got!r}")
        await asyncio.sleep(0.1)


async def test_a_manual_run_settles_events_that_failed_before(api, ctx, zoho, store, zoho_server, woo_server, worker):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, worker)
    [item] = active_items(zoho, 1)
    async with ctx.sessionmaker() as session, session.begin():
        session.add(WebhookEvent(connection_id=uuid.UUID(conn["id"]), zoho_item_id=item["item_id"], sku=item["sku"],
                                 outcome="failed", detail="the store did not answer"))
    zoho.patch_item(item["item_id"], {"rate": 66.75})
    run = await wait_for_run(api, (await start_run(api, conn["id"]))["id"])
    assert run["status"] == "completed"
    await outcomes.settle_events_written_by_runs(ctx)
    [event] = await events(api, conn["id"])
    assert event["outcome"] == "synced" and event["detail"] == "updated" and event["run_id"] == run["id"]


async def test_a_completed_retry_run_settles_events_received_before_it_started(api, ctx, zoho_server, woo_server):
    """A retry reads its items from Zoho after it starts, so, like a full run, it settles the
    events that came before; events that came after it started, or that a cancelled retry
    synced, stay as they were. A run that committed after the last call's `until` is found too."""
    from datetime import timedelta

    from app.models import SyncRun, SyncRunItem

    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    connection_id = uuid.UUID(conn["id"])
    async with ctx.sessionmaker() as session, session.begin():
        now = (await session.execute(text("SELECT now()"))).scalar_one()
        before, after = now - timedelta(minutes=10), now - timedelta(minutes=1)
        runs = {status: SyncRun(connection_id=connection_id, kind="retry", mode="standard", status=status,
                                started_at=now - timedelta(minutes=5), finished_at=now - timedelta(seconds=5))
                for status in ("completed", "cancelled")}
        session.add_all(runs.values())
        await session.flush()
        for status, item in (("completed", "Z-1"), ("completed", "Z-2"), ("cancelled", "Z-3")):
            session.add(SyncRunItem(run_id=runs[status].id, kind="product", zoho_item_id=item, sku=item,
                                    action="update", status="synced"))
        session.add_all([
            WebhookEvent(connection_id=connection_id, zoho_item_id="Z-1", sku="Z-1", outcome="failed",
                         detail="the store refused it", received_at=before),
            WebhookEvent(connection_id=connection_id, zoho_item_id="Z-2", sku="Z-2", outcome="failed",
                         detail="came after the retry started", received_at=after),
            WebhookEvent(connection_id=connection_id, zoho_item_id="Z-3", sku="Z-3", outcome="failed",
                         detail="the retry was cancelled", received_at=before)])
    # The last call's `until` is already past the retry's finished_at: the run committed after
    # that call read (finished_at is its transaction's start). The overlap still finds it.
    await ctx.redis.set("skubridge:webhook-events-settled-until", (now - timedelta(seconds=2)).isoformat())
    assert await outcomes.settle_events_written_by_runs(ctx) == 1
    by_item = {e["zoho_item_id"]: e for e in await events(api, conn["id"])}
    assert by_item["Z-1"]["outcome"] == "synced" and by_item["Z-1"]["detail"] == "updated"
    assert by_item["Z-1"]["run_id"] == str(runs["completed"].id)
    assert by_item["Z-2"]["outcome"] == by_item["Z-3"]["outcome"] == "failed"
