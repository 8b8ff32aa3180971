"""Runs under faults and long passes, with real arq workers: leases kept past their length,
outages that pause a run and resume it by itself, and database connections killed mid-run.
(Test settings: LEASE_SECONDS 3, FAULT_BACKOFF_SECONDS [1, 2], STORE_MAX_ATTEMPTS 3.)"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import text

from tests.helpers import (
    create_connection,
    run_items,
    sim,
    start_run,
    store_products,
    wait_for_run,
)
from tests.syncs.test_manual_sync import expected_syncable, seed_catalogue
from tests.webhooks.test_webhooks import deliver, wait_settled

pytestmark = pytest.mark.timeout(180)


async def test_a_webhook_pass_longer_than_the_lease_writes_every_item_once(api, ctx, zoho, store, zoho_server,
                                                                          woo_server, worker):
    items = expected_syncable(seed_catalogue(zoho, 200))[:120]
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    first = worker()
    assert (await wait_for_run(api, (await start_run(api, conn["id"]))["id"]))["status"] == "completed"
    assert (await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": True})).status_code == 200
    await _until(lambda: _webhook(api, conn["id"]), lambda hook: hook["last_catchup_at"] is not None)
    first.stop()

    # 120 changed items queue up while no worker runs; then one pass writes them at 40 ms each
    # (three batches, ~5 s: longer than the 3 s lease), with a second worker whose recovery job
    # would take over a lease that was not renewed.
    for item in items:
        zoho.patch_item(item["item_id"], {"rate": 55.5})
        assert (await deliver(api, ctx, conn["id"], {"item_id": item["item_id"]})).status_code == 202
    sim(woo_server.base_url, "PUT", "/config", json={"per_item_latency_ms": 40})
    sim(woo_server.base_url, "POST", "/stats/reset")
    worker(), worker()
    events = await wait_settled(api, conn["id"], len(items), timeout=60)

    assert Counter(e["outcome"] for e in events) == {"synced": len(items)}
    runs = (await api.get(f"/api/v1/connections/{conn['id']}/syncs", params={"kind": "webhook"})).json()["items"]
    assert runs and all(r["status"] == "completed" for r in runs)
    written = [i for r in runs for i in await run_items(api, r["id"])]
    assert len(written) == len(items) and {i["attempts"] for i in written} == {1}  # never claimed twice
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == len(items)


async def test_a_store_outage_pauses_the_run_which_resumes_by_itself(api, zoho, store, zoho_server, woo_server,
                                                                    worker):
    items = expected_syncable(seed_catalogue(zoho, 60))
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, batch_size=20,
                                   store_concurrency=1)
    # The first batch meets a store answering 503 through all of the client's attempts.
    sim(woo_server.base_url, "PUT", "/config", json={"fail_next": [
        {"status": 503, "body": "<html>Service Unavailable</html>", "path_contains": "/products/batch"}] * 3})
    worker()
    run = await start_run(api, conn["id"])
    paused = await wait_for_run(api, run["id"], statuses={"paused", "completed", "failed"})
    assert paused["status"] == "paused" and paused["retry_at"] is not None, paused
    assert "unavailable" in paused["reason"] and paused["failed"] == 0

    done = await wait_for_run(api, run["id"], timeout=30)
    assert done["status"] == "completed" and done["failed"] == 0 and done["synced"] == len(items), done
    assert done["reason"] is None and done["retry_at"] is None
    skus = Counter(p["sku"].lower() for p in store_products(woo_server.base_url))
    assert len(skus) == len(items) and max(skus.values()) == 1
    logs = (await api.get("/api/v1/logs", params={"run_id": run["id"], "action": "run", "limit": 50})).json()["items"]
    assert any(entry["status"] == "paused" and "retrying at" in entry["message"] for entry in logs)


async def test_database_connections_killed_mid_run_lose_and_duplicate_nothing(api, ctx, zoho, store, zoho_server,
                                                                             woo_server, worker):
    items = expected_syncable(seed_catalogue(zoho, 300))
    sim(woo_server.base_url, "PUT", "/config", json={"per_item_latency_ms": 5})
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, batch_size=10)
    worker()
    run = await start_run(api, conn["id"])
    await wait_for_run(api, run["id"], until=lambda r: r["synced"] >= 20)
    killed = 0
    for _ in range(30):  # every backend of the database but this one, over ~3 s
        async with ctx.engine.connect() as connection:
            killed += (await connection.execute(_KILL)).scalar() or 0
        await asyncio.sleep(0.1)
    assert killed > 0
    done = await wait_for_run(api, run["id"], timeout=90)
    assert done["status"] == "completed" and done["failed"] == 0 and done["synced"] == len(items), done
    skus = Counter(p["sku"].lower() for p in store_products(woo_server.base_url))
    assert len(skus) == len(items) and max(skus.values()) == 1


_KILL = text("""
    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
""")


async def _webhook(api, connection_id: str) -> dict:
    return (await api.get(f"/api/v1/connections/{connection_id}/webhook")).json()


async def _until(read, ok, *, timeout: float = 20.0) -> dict:
    for _ in range(int(timeout * 10)):
        value = await read()
        if ok(value):
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met: {value}")


async def test_a_store_that_times_out_on_big_batches_sets_the_pace(api, zoho, store, zoho_server, woo_server, worker):
    """Batches of more than 40 objects are written but answered 504 (a proxy gave up): they are
    split and retried, creates looked up by SKU first, and the run settles at 40 or less."""
    items = expected_syncable(seed_catalogue(zoho, 300))
    sim(woo_server.base_url, "PUT", "/config", json={"gateway_timeout_over": 40})
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, batch_size=50,
                                   store_concurrency=2)
    worker()
    done = await wait_for_run(api, (await start_run(api, conn["id"]))["id"], timeout=90)
    assert done["status"] == "completed" and done["failed"] == 0 and done["synced"] == len(items), done
    assert done["pace"]["batch_size"] <= 40 and done["pace"]["in_flight"] <= 2
    skus = Counter(p["sku"].lower() for p in store_products(woo_server.base_url))
    assert len(skus) == len(items) and max(skus.values()) == 1
