"""Verify runs over item groups: a variation's price and stock edited in the store, a variable
product renamed and re-described, one deleted with its variations, a variation trashed. A
standard run repairs nothing; a verify run reads the products 100 a call and each variable
product's variations with one call, repairs exactly those objects (listing each one's changes),
and a second verify run writes nothing."""

from __future__ import annotations

import math
import secrets
import uuid

import pytest
from sqlalchemy import select

from app.models import Connection, RunMode, RunStatus, SyncRun, SyncRunItem
from app.syncs import planner
from tests.catalogue.test_group_changes import variant
from tests.helpers import create_connection, run_items, sim, sim_requests, store_by_sku, store_products, wait_for_run

pytestmark = pytest.mark.timeout(240)
SIMPLE = 30
GROUPS = ("1", "2", "3")
OPTIONS = ("Red", "Green", "Blue")


def catalogue() -> list[dict]:
    simple = [{"item_id": str(i), "name": f"Item {i}", "sku": f"VV-{i}", "rate": 5 + i, "status": "active",
               "stock_on_hand": 10 + i, "description": f"About item {i}"} for i in range(1, SIMPLE + 1)]
    groups = [variant(f"9{g}0{n}", f"V{g}-{option[0]}", g, ("Colour", option), rate=10 + n, stock=5 + n)
              | {"description": f"Group {g} text"}
              for g in GROUPS for n, option in enumerate(OPTIONS)]
    # The store keeps "&" as "&amp;" in names and descriptions: not an edit to repair.
    simple[0] |= {"name": "Salt & pepper", "description": "By Oak & Ember"}
    for member in groups[:len(OPTIONS)]:
        member["group_name"] = "Mugs & cups"
    return simple + groups


async def sync(api, connection_id: str, mode: str | None = None) -> dict:
    body = {"json": {"mode": mode}} if mode else {}
    response = await api.post(f"/api/v1/connections/{connection_id}/syncs", **body)
    assert response.status_code == 202, response.text
    run = await wait_for_run(api, response.json()["id"], timeout=120)
    assert run["status"] == "completed" and run["mode"] == (mode or "standard"), run
    return run


def tamper(store, woo_url: str) -> dict[str, int]:
    """Edit the store as a merchant would, straight in its state; the ids before, by SKU."""
    ids = {sku: p["id"] for sku, p in store_by_sku(woo_url).items()}
    with store.lock:
        red = store.get(ids["V1-R"])
        red.regular_price, red.stock_quantity = "999.00", 0
        parent = store.get(ids["zoho-group-G2"])
        parent.name, parent.description = "Renamed by hand", "Written by a plugin"
        store.delete(store.get(ids["zoho-group-G3"]))
        store.trash(store.get(ids["V1-B"]))
    return ids


def store_writes(woo_url: str) -> dict[str, int]:
    return {k: v for k, v in sim_requests(woo_url).items() if k.startswith(("POST", "PUT", "DELETE"))}


async def test_verify_repairs_variable_products_and_variations(api, zoho, store, zoho_server, woo_server, worker):
    zoho.upsert_items(catalogue())
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, new_product_status="publish")
    worker()
    first = await sync(api, conn["id"])
    assert first["failed"] == 0
    stored = store_by_sku(woo_server.base_url)
    assert stored["VV-1"]["name"] == "Salt &amp; pepper" and stored["zoho-group-G1"]["name"] == "Mugs &amp; cups"
    ids = tamper(store, woo_server.base_url)

    sim(woo_server.base_url, "POST", "/stats/reset")
    standard = await sync(api, conn["id"])
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == 0  # a standard run trusts its hashes
    assert {i["action"] for i in await run_items(api, standard["id"])} == {"unchanged"}
    assert "zoho-group-G3" not in store_by_sku(woo_server.base_url)

    sim(woo_server.base_url, "POST", "/stats/reset")
    verify = await sync(api, conn["id"], "verify")
    assert verify["failed"] == 0, await run_items(api, verify["id"], "failed")

    # Reads: the linked products (30 simple, 3 variable) in one call, one variations call per
    # variable product still in the store (G1, G2), one id,sku listing for the orphans.
    calls = sim_requests(woo_server.base_url)
    linked_products = SIMPLE + len(GROUPS)
    store_products_now = SIMPLE + len(GROUPS) - 1
    assert calls["GET /products"] == math.ceil(linked_products / 100) + math.ceil(store_products_now / 100)
    assert calls["GET /products/{product_id}/variations"] == 2
    # Writes: G2 updated; G3 created with its 3 variations; V1-R and V1-B updated under G1.
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == 1 + 4 + 2
    assert store_writes(woo_server.base_url) == {"POST /products/batch": 1,
                                                 "POST /products/{product_id}/variations/batch": 2}

    items = {i["sku"]: i for i in await run_items(api, verify["id"])}
    changed = {sku: {(c["field"], str(c["store"]), str(c["zoho"])) for c in i["changes"]}
               for sku, i in items.items() if i["changes"]}
    assert changed.keys() == {"V1-R", "V1-B", "zoho-group-G2", "zoho-group-G3", "V3-R", "V3-G", "V3-B"}
    assert changed["V1-R"] == {("regular_price", "999.00", "10.00"), ("stock_quantity", "0", "5")}
    assert changed["V1-B"] == {("status", "trash", "publish")}
    assert changed["zoho-group-G2"] == {("name", "Renamed by hand", "Group 2"),
                                        ("description", "Written by a plugin", "Group 2 text")}
    for sku in ("zoho-group-G3", "V3-R", "V3-G", "V3-B"):
        assert items[sku]["action"] == "create" and items[sku]["status"] == "synced", items[sku]
    assert items["zoho-group-G3"]["error"] == "deleted in the store; created again"
    assert {i["action"] for sku, i in items.items() if sku not in changed} == {"unchanged"}

    after = store_by_sku(woo_server.base_url)
    assert after["V1-R"]["regular_price"] == "10.00" and after["V1-R"]["stock_quantity"] == 5
    assert after["V1-B"]["status"] == "publish" and after["V1-B"]["id"] == ids["V1-B"]  # restored, not re-created
    assert after["zoho-group-G2"]["name"] == "Group 2"
    assert after["zoho-group-G2"]["description"].strip() == "Group 2 text"
    g3 = after["zoho-group-G3"]
    assert g3["id"] != ids["zoho-group-G3"] and g3["type"] == "variable" and g3["name"] == "Group 3"
    assert {after[f"V3-{o[0]}"]["parent_id"] for o in OPTIONS} == {g3["id"]}
    assert [p for p in store_products(woo_server.base_url) if p["sku"] == "V3-R"][0]["regular_price"] == "10.00"

    drift = (await api.get(f"/api/v1/connections/{conn['id']}/drift")).json()
    assert drift["run_id"] == verify["id"] and drift["failed"] == 0
    assert drift["checked"] == SIMPLE + len(GROUPS) * (1 + len(OPTIONS))
    assert drift["repaired"] == 3 and drift["recreated"] == 4
    assert drift["fields_repaired"] == {"description": 1, "name": 1, "regular_price": 1, "status": 1,
                                        "stock_quantity": 1}
    assert drift["orphan_count"] == 0

    # Repaired: a second verify run finds nothing to write.
    sim(woo_server.base_url, "POST", "/stats/reset")
    again = await sync(api, conn["id"], "verify")
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == 0
    assert store_writes(woo_server.base_url) == {}
    assert all(not i["changes"] for i in await run_items(api, again["id"]))
    assert sim_requests(woo_server.base_url)["GET /products/{product_id}/variations"] == len(GROUPS)


async def test_verify_reads_whole_calls_across_planning_chunks(ctx, api, zoho, zoho_server, woo_server, worker,
                                                               monkeypatch):
    """250 simple products planned 60 at a time, then a group: the products are read in
    ceil(253 / 100) calls, not one partial call per chunk (5 chunks, 6 calls)."""
    zoho.upsert_items([{"item_id": str(i), "name": f"Item {i}", "sku": f"VC-{i}", "rate": 4, "status": "active"}
                       for i in range(1, 251)] + [variant("9101", "VC-R", "1", ("Colour", "Red")),
                                                  variant("9102", "VC-B", "1", ("Colour", "Blue"))])
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    await sync(api, conn["id"])
    async with ctx.sessionmaker() as session:
        connection = await session.get(Connection, uuid.UUID(conn["id"]))
        token = secrets.token_hex(8)
        run = SyncRun(connection_id=connection.id, kind="manual", mode=RunMode.VERIFY, status=RunStatus.QUEUED,
                      driver_token=token)
        session.add(run)
        await session.commit()
    monkeypatch.setattr(planner, "PLAN_CHUNK", 60)
    sim(woo_server.base_url, "POST", "/stats/reset")
    assert await planner.plan_run_items(ctx, run=run, connection=connection, token=token) == RunStatus.RUNNING

    calls = sim_requests(woo_server.base_url)
    assert calls["GET /products"] == math.ceil(251 / 100) + math.ceil(251 / 100)  # records, then the orphan listing
    assert calls["GET /products/{product_id}/variations"] == 1
    async with ctx.sessionmaker() as session:
        rows = (await session.execute(select(SyncRunItem.sku, SyncRunItem.action).where(
            SyncRunItem.run_id == run.id))).all()
    assert len(rows) == 253 and {action for _, action in rows} == {"unchanged"}  # every item, once
    assert len({sku for sku, _ in rows}) == 253
