"""Verify runs end to end: the store is tampered with behind the service's back (price, stock,
name, description, a picture removed, a product deleted, one trashed); a standard run repairs
nothing (its content hashes say nothing changed in Zoho), a verify run repairs exactly those,
writes nothing else, reads the store in batches, and the drift report says what it found."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from tests.helpers import create_connection, run_items, sim, sim_requests, store_by_sku, wait_for_run

pytestmark = pytest.mark.timeout(240)
DOWNLOADS = "GET /items/{item_id}/image"


def picture(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def catalogue(count: int) -> list[dict]:
    return [{"item_id": str(i), "name": f"Item {i}", "sku": f"VER-{i}", "rate": 5 + i, "status": "active",
             "stock_on_hand": 10 + i, "description": f"About item {i}"} for i in range(1, count + 1)]


async def sync(api, connection_id: str, mode: str | None = None) -> dict:
    body = {"json": {"mode": mode}} if mode else {}
    response = await api.post(f"/api/v1/connections/{connection_id}/syncs", **body)
    assert response.status_code == 202, response.text
    assert response.json()["mode"] == (mode or "standard")
    run = await wait_for_run(api, response.json()["id"], timeout=120)
    assert run["status"] == "completed", run
    return run


def tamper(store, woo_url: str) -> dict[str, int]:
    """Edit the store as a merchant would, straight in its state; the ids touched by SKU."""
    ids = {sku: p["id"] for sku, p in store_by_sku(woo_url).items()}
    with store.lock:
        store.get(ids["VER-1"]).regular_price = "999.00"
        record = store.get(ids["VER-2"])
        record.stock_quantity = 0
        store.get(ids["VER-3"]).name = "Renamed by hand"
        store.get(ids["VER-4"]).description = "Written by a plugin"
        store.get(ids["VER-5"]).image_ids = []
        store.delete(store.get(ids["VER-6"]))
        store.trash(store.get(ids["VER-7"]))
    return ids


async def test_verify_repairs_exactly_what_was_tampered_and_reports_drift(api, zoho, store, zoho_server, woo_server,
                                                                          worker):
    zoho.upsert_items(catalogue(250))
    zoho.set_image("5", picture((200, 10, 10)), "png")
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url,
                                   new_product_status="publish")
    worker()
    missing = await api.get(f"/api/v1/connections/{conn['id']}/drift")
    assert missing.status_code == 404 and set(missing.json()) >= {"error", "detail"}
    await sync(api, conn["id"])
    assert store_by_sku(woo_server.base_url)["VER-5"]["image_ids"]
    media_id = store_by_sku(woo_server.base_url)["VER-5"]["image_ids"]
    ids = tamper(store, woo_server.base_url)
    with store.lock:  # a product made by hand in the store, unknown to Zoho
        store.commit(store.prepare_product({"name": "Hand made", "sku": "HAND-1", "regular_price": "3.00"}))

    sim(woo_server.base_url, "POST", "/stats/reset")
    standard = await sync(api, conn["id"])
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == 0  # a standard run trusts its hashes
    assert {i["action"] for i in await run_items(api, standard["id"])} == {"unchanged"}
    assert store_by_sku(woo_server.base_url)["VER-1"]["regular_price"] == "999.00"

    sim(woo_server.base_url, "POST", "/stats/reset")
    zoho_before = zoho.stats()["requests"].copy()
    verify = await sync(api, conn["id"], "verify")
    assert verify["failed"] == 0

    # Writes: the five edited products, the trashed one restored, the deleted one created again.
    stats = sim(woo_server.base_url, "GET", "/stats")
    assert stats["objects_written"] == 7
    calls = sim_requests(woo_server.base_url)
    assert calls["POST /products/batch"] == 1
    # Reads: the linked products 100 a call, one light listing per 100 store products for orphans.
    assert calls["GET /products"] == math.ceil(250 / 100) + math.ceil(250 / 100)
    assert stats["media_created"] == 0
    zoho_calls = {k: v - zoho_before.get(k, 0) for k, v in zoho.stats()["requests"].items()}
    assert zoho_calls.get("GET /items") == 2 and not zoho_calls.get(DOWNLOADS)  # as a standard run, no download

    items = {i["sku"]: i for i in await run_items(api, verify["id"])}
    changed = {sku: {(c["field"], str(c["store"]), str(c["zoho"])) for c in i["changes"]}
               for sku, i in items.items() if i["changes"]}
    assert changed.keys() == {"VER-1", "VER-2", "VER-3", "VER-4", "VER-5", "VER-6", "VER-7"}
    assert changed["VER-1"] == {("regular_price", "999.00", "6.00")}
    assert changed["VER-2"] == {("stock_quantity", "0", "12")}
    assert changed["VER-3"] == {("name", "Renamed by hand", "Item 3")}
    assert changed["VER-4"] == {("description", "Written by a plugin", "About item 4")}
    assert items["VER-5"]["changes"] == [{"field": "images", "store": [], "zoho": media_id}]
    assert changed["VER-7"] == {("status", "trash", "publish")}
    assert items["VER-6"]["action"] == "create" and items["VER-6"]["status"] == "synced"
    assert items["VER-6"]["error"] == "deleted in the store; created again"
    assert {i["action"] for sku, i in items.items() if sku not in changed} == {"unchanged"}

    after = store_by_sku(woo_server.base_url)
    assert after["VER-1"]["regular_price"] == "6.00" and after["VER-2"]["stock_quantity"] == 12
    assert after["VER-3"]["name"] == "Item 3" and after["VER-4"]["description"].strip() == "About item 4"
    assert after["VER-5"]["image_ids"] == media_id  # attached again by its media id
    assert after["VER-7"]["status"] == "publish" and after["VER-7"]["id"] == ids["VER-7"]
    assert after["VER-6"]["id"] != ids["VER-6"] and after["VER-6"]["regular_price"] == "11.00"

    drift = (await api.get(f"/api/v1/connections/{conn['id']}/drift")).json()
    assert drift["run_id"] == verify["id"] and drift["checked"] == 250
    assert drift["fields_repaired"] == {"description": 1, "images": 1, "name": 1, "regular_price": 1,
                                        "status": 1, "stock_quantity": 1}
    assert drift["repaired"] == 6 and drift["recreated"] == 1 and drift["failed"] == 0
    assert drift["orphan_count"] == 1 and drift["orphans"] == [{"store_id": after["HAND-1"]["id"], "sku": "HAND-1"}]
    assert "HAND-1" in store_by_sku(woo_server.base_url)  # listed, never deleted

    # Repaired: a second verify run finds nothing to write.
    sim(woo_server.base_url, "POST", "/stats/reset")
    again = await sync(api, conn["id"], "verify")
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == 0
    assert all(not i["changes"] for i in await run_items(api, again["id"]))


async def test_sync_mode_is_validated(api, zoho, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    bad = await api.post(f"/api/v1/connections/{conn['id']}/syncs", json={"mode": "thorough"})
    assert bad.status_code == 422 and set(bad.json()) >= {"error", "detail"}
    extra = await api.post(f"/api/v1/connections/{conn['id']}/syncs", json={"mode": "verify", "dry": True})
    assert extra.status_code == 422
