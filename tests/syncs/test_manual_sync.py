"""Manual sync end to end: the API, a real arq worker, real Postgres and Redis, and both
simulators over HTTP. The store's end state is checked field by field and API calls are counted."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from decimal import Decimal

import pytest

from app.syncs.drafts import LENGTH_IN_MM, WEIGHT_IN_GRAMS, convert, format_price
from tests.helpers import (
    create_connection,
    run_items,
    sim,
    sim_requests,
    start_run,
    store_products,
    wait_for_run,
)

pytestmark = pytest.mark.timeout(180)


def seed_catalogue(zoho, count: int) -> list[dict]:
    zoho.generate_catalogue(count, seed=7)
    return zoho.all_items()


def expected_syncable(items: list[dict]) -> list[dict]:
    skus = Counter((i.get("sku") or "").lower() for i in items if i.get("sku"))
    return [i for i in items if i.get("sku") and skus[i["sku"].lower()] == 1 and not i.get("group_id")
            and i.get("status") == "active"]


async def test_full_sync_lands_every_field_then_unchanged_resync_writes_nothing(api, zoho, store, zoho_server,
                                                                                woo_server, worker):
    items = seed_catalogue(zoho, 450)
    # Items that must be skipped with a reason, never guessed at.
    zoho.upsert_items([
        {"item_id": "900001", "name": "No SKU", "sku": "", "rate": 5, "status": "active"},
        {"item_id": "900002", "name": "Twin A", "sku": "TWIN-1", "rate": 5, "status": "active"},
        {"item_id": "900003", "name": "Twin B", "sku": "twin-1", "rate": 6, "status": "active"},
    ])
    items = zoho.all_items()
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()

    run = await wait_for_run(api, (await start_run(api, conn["id"]))["id"])
    syncable = expected_syncable(items)
    assert run["status"] == "completed", run
    assert run["total"] == len(items)
    assert run["synced"] == len(syncable) and run["failed"] == 0 and run["pending"] == 0
    assert run["skipped"] == len(items) - len(syncable) and run["progress"] == 100

    skipped = {i["zoho_item_id"]: i["error"] for i in await run_items(api, run["id"], "skipped")}
    assert skipped["900001"] == "no SKU in Zoho"
    assert "is on 2 Zoho items" in skipped["900002"] and "is on 2 Zoho items" in skipped["900003"]
    inactive = [i for i in items if i.get("status") == "inactive" and i.get("sku")]
    assert inactive and all(skipped[i["item_id"]] == "inactive in Zoho" for i in inactive)

    products = {p["sku"]: p for p in store_products(woo_server.base_url)}
    assert len(products) == len(syncable)
    for item in syncable:
        assert_product_matches(products[item["sku"]], item, weight_unit=store.weight_unit,
                               dimension_unit=store.dimension_unit)

    zoho_calls = Counter(zoho.stats()["requests"])
    assert zoho_calls["GET /items"] == math.ceil(len(items) / 200)
    assert zoho_calls["GET /itemdetails"] == 0 and zoho_calls["GET /items/{item_id}"] == 0
    assert zoho.stats()["tokens_issued"] == 1
    calls = sim_requests(woo_server.base_url)
    assert calls["POST /products/batch"] == math.ceil(len(syncable) / 50)
    assert calls["GET /products"] == math.ceil(len(syncable) / 100)  # bulk SKU look-ups, 100 a request
    assert calls["POST /products"] == 0 and calls["PUT /products/{id}"] == 0  # never one call per item

    # Unchanged catalogue: zero store writes, every item unchanged.
    sim(woo_server.base_url, "POST", "/stats/reset")
    again = await wait_for_run(api, (await start_run(api, conn["id"]))["id"])
    assert again["status"] == "completed" and again["synced"] == len(syncable)
    calls = sim_requests(woo_server.base_url)
    assert calls["POST /products/batch"] == 0 and calls["GET /products"] == 0
    actions = Counter(i["action"] for i in await run_items(api, again["id"]))
    assert actions["unchanged"] == len(syncable)

    # One price change in Zoho: exactly one product written.
    target = syncable[3]
    zoho.patch_item(target["item_id"], {"rate": 123.45})
    sim(woo_server.base_url, "POST", "/stats/reset")
    third = await wait_for_run(api, (await start_run(api, conn["id"]))["id"])
    assert third["status"] == "completed"
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == 1
    assert {p["sku"]: p for p in store_products(woo_server.base_url)}[target["sku"]]["regular_price"] == "123.45"


def assert_product_matches(product: dict, item: dict, *, weight_unit: str, dimension_unit: str) -> None:
    """Every synced field, with Zoho's units converted to the store's."""
    assert product["name"] == item["name"].replace("&", "&amp;")
    assert product["description"] == item["description"].replace("&", "&amp;")  # kses normalises entities
    assert product["type"] == "simple" and product["status"] == "draft"
    assert product["regular_price"] == format_price(Decimal(str(item["rate"])))
    assert product["manage_stock"] is True
    assert product["stock_quantity"] == math.floor(Decimal(str(item["available_stock"])))
    assert product["stock_status"] == ("instock" if product["stock_quantity"] > 0 else "outofstock")
    reorder = item.get("reorder_level")
    assert product["low_stock_amount"] == (int(Decimal(str(reorder))) if reorder not in (None, "") else None)
    package = item.get("package_details") or item
    assert product["weight"] == convert(_dec(package.get("weight")), package.get("weight_unit"), weight_unit,
                                        WEIGHT_IN_GRAMS, "weight")
    for axis in ("length", "width", "height"):
        assert product["dimensions"][axis] == convert(_dec(package.get(axis)), package.get("dimension_unit"), dimension_unit,
                                                      LENGTH_IN_MM, "dimension")
    assert {"key": "_zoho_item_id", "value": item["item_id"]} in [
        {"key": m["key"], "value": m["value"]} for m in product["meta_data"]]


def _dec(value):
    return None if value in (None, "") else Decimal(str(value))


async def test_only_one_active_run_per_connection_and_controls_answer_409(api, zoho, store, zoho_server,
                                                                          woo_server, worker):
    seed_catalogue(zoho, 20)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    run = await start_run(api, conn["id"])
    second = await api.post(f"/api/v1/connections/{conn['id']}/syncs")
    assert second.status_code == 409 and second.json()["error"] == "Conflict"
    worker()
    done = await wait_for_run(api, run["id"])
    assert done["status"] == "completed"
    for verb in ("pause", "resume", "cancel"):
        response = await api.post(f"/api/v1/syncs/{run['id']}/{verb}")
        assert response.status_code == 409
        assert "completed" in response.json()["detail"]
    history = (await api.get(f"/api/v1/connections/{conn['id']}/syncs")).json()
    assert [r["id"] for r in history["items"]] == [run["id"]]


async def slow_run(api, zoho, zoho_server, woo_server, worker, *, synced_at_least: int):
    """A run against a store taking 20 ms per product, 10 per batch, two batches in flight,
    returned once `synced_at_least` items are written: slow enough to act on mid-run."""
    items = expected_syncable(seed_catalogue(zoho, 200))
    sim(woo_server.base_url, "PUT", "/config", json={"per_item_latency_ms": 20})
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, batch_size=10,
                                   store_concurrency=2)
    worker()
    run = await start_run(api, conn["id"])
    await wait_for_run(api, run["id"], until=lambda r: r["synced"] >= synced_at_least)
    return items, conn, run


async def held_still(api, woo_server, run_id: str) -> dict:
    """The run as it reads now, after checking that neither it nor the store moves for 1.5 s,
    and that its counters agree with its items."""
    before = (await api.get(f"/api/v1/syncs/{run_id}")).json()
    written = sim(woo_server.base_url, "GET", "/stats")["objects_written"]
    await asyncio.sleep(1.5)
    after = (await api.get(f"/api/v1/syncs/{run_id}")).json()
    assert {k: after[k] for k in COUNTERS} == {k: before[k] for k in COUNTERS}
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == written
    listed = Counter(item["status"] for item in await run_items(api, run_id))
    assert {k: after[k] for k in COUNTERS if k != "total"} == {k: listed[k] for k in COUNTERS if k != "total"}
    return after


COUNTERS = ("total", "synced", "failed", "pending", "skipped", "cancelled")


async def test_pause_with_batches_in_flight_writes_nothing_once_paused(api, zoho, store, zoho_server, woo_server,
                                                                       worker):
    items, conn, run = await slow_run(api, zoho, zoho_server, woo_server, worker, synced_at_least=20)
    paused = await api.post(f"/api/v1/syncs/{run['id']}/pause")
    # Two batches are in flight: the pause is accepted and holds once they are recorded.
    assert paused.status_code == 202 and paused.json()["status"] == "pausing"
    await wait_for_run(api, run["id"], statuses={"paused"}, timeout=10)
    held = await held_still(api, woo_server, run["id"])
    assert held["status"] == "paused" and held["pending"] > 0 and held["retry_at"] is None
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == held["synced"]
    assert (await api.post(f"/api/v1/syncs/{run['id']}/pause")).status_code == 409

    resumed = await api.post(f"/api/v1/syncs/{run['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    done = await wait_for_run(api, run["id"])
    assert done["status"] == "completed" and done["synced"] == len(items) and done["failed"] == 0
    # No item synced twice: every product written exactly once, one product per SKU.
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == len(items)
    skus = Counter(p["sku"].lower() for p in store_products(woo_server.base_url))
    assert len(skus) == len(items) and max(skus.values()) == 1


async def test_cancel_with_batches_in_flight_is_final_and_counters_match_items(api, zoho, store, zoho_server,
                                                                              woo_server, worker):
    items, conn, run = await slow_run(api, zoho, zoho_server, woo_server, worker, synced_at_least=10)
    cancelled = await api.post(f"/api/v1/syncs/{run['id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelling"
    final = await wait_for_run(api, run["id"], statuses={"cancelled"}, timeout=10)
    final = await held_still(api, woo_server, run["id"])
    assert final["status"] == "cancelled" and final["pending"] == 0 and final["cancelled"] > 0
    assert final["synced"] + final["cancelled"] + final["skipped"] == final["total"]
    # What the in-flight batches really wrote is recorded as synced, nothing more.
    assert len(store_products(woo_server.base_url)) == final["synced"] < len(items)
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == final["synced"]
    assert (await api.post(f"/api/v1/syncs/{run['id']}/resume")).status_code == 409
    # The connection is free for a new run, which creates only what is missing.
    again = await wait_for_run(api, (await start_run(api, conn["id"]))["id"])
    assert again["status"] == "completed" and len(store_products(woo_server.base_url)) == len(items)


async def test_a_run_with_no_live_driver_pauses_and_cancels_at_once(api, zoho, store, zoho_server, woo_server):
    seed_catalogue(zoho, 20)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    run = await start_run(api, conn["id"])  # no worker: nobody drives it
    paused = await api.post(f"/api/v1/syncs/{run['id']}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    cancelled = await api.post(f"/api/v1/syncs/{run['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await api.post(f"/api/v1/syncs/{run['id']}/cancel")).status_code == 409


async def test_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(api, zoho, store, zoho_server,
                                                                           woo_server, worker):
    items = expected_syncable(seed_catalogue(zoho, 300))
    sim(woo_server.base_url, "PUT", "/config", json={"per_item_latency_ms": 15})
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, batch_size=25)
    first = worker()
    run = await start_run(api, conn["id"])
    await wait_for_run(api, run["id"], until=lambda r: r["synced"] >= 50)
    first.kill()
    at_kill = (await api.get(f"/api/v1/syncs/{run['id']}")).json()
    assert at_kill["status"] == "running" and at_kill["pending"] > 0
    worker()
    done = await wait_for_run(api, run["id"], timeout=120)
    failed = [i for i in await run_items(api, run["id"], "failed")]
    assert done["status"] == "completed" and done["failed"] == 0 and done["synced"] == len(items), (done, failed[:3])
    skus = Counter(p["sku"].lower() for p in store_products(woo_server.base_url))
    assert len(skus) == len(items) and max(skus.values()) == 1


async def test_429s_and_token_expiry_do_not_fail_items(api, zoho, store, zoho_server, woo_server, worker):
    items = expected_syncable(seed_catalogue(zoho, 600))
    zoho.update_knobs({"rate_429": 0.3, "retry_after_seconds": 1, "token_ttl": 2})
    sim(woo_server.base_url, "PUT", "/config", json={"rate_429": 0.3, "per_item_latency_ms": 2})
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, batch_size=25)
    worker()
    run = await start_run(api, conn["id"])
    await wait_for_run(api, run["id"], until=lambda r: r["status"] != "queued")
    zoho.expire_tokens()
    done = await wait_for_run(api, run["id"], timeout=120)
    assert done["status"] == "completed", done
    assert done["failed"] == 0 and done["synced"] == len(items)
    assert zoho.stats()["injected_faults"] > 0
    assert len(store_products(woo_server.base_url)) == len(items)


async def test_wrong_credentials_fail_the_run_at_once_with_a_reason(api, zoho, store, zoho_server, woo_server,
                                                                    worker):
    seed_catalogue(zoho, 10)
    worker()
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await api.patch(f"/api/v1/connections/{conn['id']}", json={"zoho": {"client_secret": "wrong"}})
    run = await wait_for_run(api, (await start_run(api, conn["id"]))["id"], timeout=20)
    assert run["status"] == "failed" and "invalid_client" in run["reason"]
    assert zoho.stats()["tokens_issued"] == 0

    await api.patch(f"/api/v1/connections/{conn['id']}", json={"zoho": {"client_secret": "demo-secret"},
                                                                "woocommerce": {"consumer_secret": "cs_wrong"}})
    run = await wait_for_run(api, (await start_run(api, conn["id"]))["id"], timeout=20)
    # Over plain HTTP the store checks an OAuth signature made with the (wrong) secret.
    assert run["status"] == "failed" and "Invalid signature" in run["reason"]
    logs = (await api.get("/api/v1/logs", params={"run_id": run["id"], "level": "error"})).json()
    assert any("Invalid signature" in row["message"] for row in logs["items"])
    assert store_products(woo_server.base_url) == []


async def test_list_rows_lacking_fields_are_completed_in_bulk(api, zoho, store, zoho_server, woo_server, worker):
    items = expected_syncable(seed_catalogue(zoho, 250))
    zoho.update_knobs({"list_rows_full": False})
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    run = await wait_for_run(api, (await start_run(api, conn["id"]))["id"])
    assert run["status"] == "completed" and run["synced"] == len(items)
    calls = Counter(zoho.stats()["requests"])
    assert calls["GET /itemdetails"] == math.ceil(len(items) / 100)  # only the items that will be synced
    assert calls["GET /items/{item_id}"] == 0
    products = {p["sku"]: p for p in store_products(woo_server.base_url)}
    by_sku = {i["sku"]: zoho.get_item(i["item_id"]) for i in items}
    for sku, detail in by_sku.items():
        assert_product_matches(products[sku], detail, weight_unit=store.weight_unit,
                               dimension_unit=store.dimension_unit)


async def test_sync_over_https_with_basic_auth(api, zoho, zoho_server, worker, tmp_path):
    from simulators.server import ServerThread
    from simulators.woocommerce.app import create_app
    from simulators.woocommerce.tls import make_self_signed_cert

    certfile, keyfile = make_self_signed_cert(tmp_path)
    server = ServerThread(create_app(), ssl_certfile=certfile, ssl_keyfile=keyfile).start()
    try:
        items = expected_syncable(seed_catalogue(zoho, 40))
        conn = await create_connection(api, zoho_server.base_url, server.base_url, verify_tls=False)
        worker()
        run = await wait_for_run(api, (await start_run(api, conn["id"]))["id"])
        assert run["status"] == "completed" and run["synced"] == len(items)
        assert len(server.app.state.store.products) == len(items)
    finally:
        server.stop()


async def test_stock_counts_only_the_chosen_location(api, zoho, store, zoho_server, woo_server, worker):
    items = expected_syncable(seed_catalogue(zoho, 150))
    second = zoho.get_item(items[0]["item_id"])["locations"][1]["location_id"]
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, warehouse_ids=[second])
    worker()
    run = await wait_for_run(api, (await start_run(api, conn["id"]))["id"])
    assert run["status"] == "completed" and run["synced"] == len(items)
    assert Counter(zoho.stats()["requests"])["GET /itemdetails"] == math.ceil(len(items) / 100)
    products = {p["sku"]: p for p in store_products(woo_server.base_url)}
    for item in items:
        [place] = [p for p in zoho.get_item(item["item_id"])["locations"] if p["location_id"] == second]
        assert products[item["sku"]]["stock_quantity"] == math.floor(Decimal(str(place["location_available_stock"])))
