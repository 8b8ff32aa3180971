"""The batch processor against the WooCommerce simulator: recovery from the store's answers.

These call the processor directly with a real context (Postgres, Redis) and the simulator over
HTTP, so each store answer can be set up exactly."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import insert, select

from app.connections.adapters import store_for
from app.connections.service import connection_settings, get_connection
from app.integrations.woocommerce.errors import WooUnavailable
from app.models import LinkKind, ProductLink, RunStatus, SyncRun, SyncRunItem
from app.syncs.processor import BatchProcessor
from app.syncs.state import Lease
from tests.helpers import create_connection, sim


def draft(sku: str, name: str = "Widget", price: str = "9.99") -> dict:
    return {"draft": {"sku": sku, "name": name, "price": price, "stock": 5, "zoho_item_id": f"z-{sku}"},
            "create": {"status": "draft", "name": name}}


async def setup_run(api, ctx, zoho_url, woo_url, items: list[dict], **settings):
    conn = await create_connection(api, zoho_url, woo_url, **settings)
    token = "driver-token"
    async with ctx.sessionmaker() as session:
        connection = await get_connection(session, uuid.UUID(conn["id"]))
        run = SyncRun(connection_id=connection.id, status=RunStatus.RUNNING, driver_token=token)
        session.add(run)
        await session.flush()
        await session.execute(insert(SyncRunItem), [
            {"run_id": run.id, "zoho_item_id": i["payload"]["draft"]["zoho_item_id"], "sku": i["payload"]["draft"]["sku"],
             "name": "x", "action": i["action"], "status": "pending", "payload": i["payload"],
             "content_hash": "h-" + i["payload"]["draft"]["sku"], "store_id": i.get("store_id")} for i in items])
        await session.commit()
        return connection, run, token


async def process(ctx, connection, run, token) -> dict[str, SyncRunItem]:
    async with store_for(connection, ctx) as woo:
        processor = BatchProcessor(ctx=ctx, run_id=run.id, connection_id=connection.id,
                                   lease=Lease(ctx, run.id, token), store=woo,
                                   store_settings=await woo.get_store_settings(),
                                   settings=connection_settings(connection))
        await processor.run_loop()
    async with ctx.sessionmaker() as session:
        rows = await session.scalars(select(SyncRunItem).where(SyncRunItem.run_id == run.id))
        return {row.sku: row for row in rows}


async def seed_product(woo_server, sku: str) -> int:
    # Created through the simulator's own state: the test client speaks plain HTTP without OAuth.
    state = woo_server.app.state.store
    return state.commit(state.prepare_product({"name": "Already there", "sku": sku, "regular_price": "1.00"})).id


async def test_create_refused_for_duplicate_sku_links_and_updates_the_holder(api, ctx, store, zoho_server, woo_server):
    existing = await seed_product(woo_server, "DUP-1")
    connection, run, token = await setup_run(api, ctx, zoho_server.base_url, woo_server.base_url,
                                             [{"action": "create", "payload": draft("DUP-1", name="From Zoho")},
                                              {"action": "create", "payload": draft("NEW-1")}])
    items = await process(ctx, connection, run, token)
    assert items["DUP-1"].status == "synced" and items["DUP-1"].store_id == existing
    assert items["NEW-1"].status == "synced"
    products = [p for p in sim(woo_server.base_url, "GET", "/products") if p["sku"].upper() == "DUP-1"]
    assert len(products) == 1 and products[0]["name"] == "From Zoho"
    async with ctx.sessionmaker() as session:
        link = await session.scalar(select(ProductLink).where(ProductLink.zoho_id == "z-DUP-1"))
    assert link.store_id == existing and link.kind == LinkKind.PRODUCT and link.content_hash == "h-DUP-1"
    calls = sim(woo_server.base_url, "GET", "/stats")["requests"]
    assert calls["POST /products/batch"] == 2  # the batch, then one follow-up for the refused create


async def test_stale_link_is_found_again_by_sku_or_recreated(api, ctx, store, zoho_server, woo_server):
    moved = await seed_product(woo_server, "MOVED-1")
    connection, run, token = await setup_run(api, ctx, zoho_server.base_url, woo_server.base_url, [
        {"action": "update", "payload": draft("MOVED-1"), "store_id": 999001},  # deleted, SKU now on another product
        {"action": "update", "payload": draft("GONE-1"), "store_id": 999002},  # deleted, nowhere in the store
    ])
    items = await process(ctx, connection, run, token)
    assert items["MOVED-1"].status == "synced" and items["MOVED-1"].store_id == moved
    assert items["GONE-1"].status == "synced" and items["GONE-1"].store_id not in (None, 999002)
    skus = sorted(p["sku"] for p in sim(woo_server.base_url, "GET", "/products"))
    assert skus == ["GONE-1", "MOVED-1"]


async def test_a_store_outage_fails_no_item_and_stops_the_driver(api, ctx, store, zoho_server, woo_server):
    """A store that keeps answering 503 beyond the client's retries is a fault, not a verdict on
    the items: the driver stops (its run pauses) and every item is still pending."""
    connection, run, token = await setup_run(api, ctx, zoho_server.base_url, woo_server.base_url, [
        {"action": "create", "payload": draft(f"OK-{n}") } for n in range(4)], batch_size=3)
    sim(woo_server.base_url, "PUT", "/config", json={"fail_next": [
        {"status": 503, "body": "<html>Service Unavailable</html>", "path_contains": "/products/batch"}] * 3})
    with pytest.raises(WooUnavailable, match="3 attempts"):
        await process(ctx, connection, run, token)
    async with ctx.sessionmaker() as session:
        statuses = list(await session.scalars(select(SyncRunItem.status).where(SyncRunItem.run_id == run.id)))
    assert statuses == ["pending"] * 4


async def test_a_gone_product_fails_with_the_vendors_reason_and_the_rest_go_on(api, ctx, store, zoho_server,
                                                                              woo_server):
    connection, run, token = await setup_run(api, ctx, zoho_server.base_url, woo_server.base_url, [
        {"action": "create", "payload": draft(f"OK-{n}") } for n in range(2)
    ] + [{"action": "update", "payload": draft("LOST-1"), "store_id": 999003}], create_missing_products=False,
        batch_size=3)
    items = await process(ctx, connection, run, token)
    failed = {sku: item for sku, item in items.items() if item.status == "failed"}
    assert set(failed) == {"LOST-1"} and {s for s, i in items.items() if i.status == "synced"} == {"OK-0", "OK-1"}
    assert "no longer exists in the store" in failed["LOST-1"].reason
    assert failed["LOST-1"].error_code == "woocommerce_rest_product_invalid_id"


async def test_retried_create_after_a_crash_becomes_an_update(api, ctx, store, zoho_server, woo_server):
    """A create whose earlier attempt may have reached the store is looked up by SKU first."""
    existing = await seed_product(woo_server, "CRASH-1")
    connection, run, token = await setup_run(api, ctx, zoho_server.base_url, woo_server.base_url,
                                             [{"action": "create", "payload": draft("CRASH-1")}])
    async with ctx.sessionmaker() as session:
        item = await session.scalar(select(SyncRunItem).where(SyncRunItem.run_id == run.id))
        item.attempts = 1  # claimed once before, by a worker that died
        await session.commit()
    items = await process(ctx, connection, run, token)
    assert items["CRASH-1"].store_id == existing and items["CRASH-1"].status == "synced"
    calls = sim(woo_server.base_url, "GET", "/stats")["requests"]
    assert calls["GET /products"] == 1 and calls["POST /products/batch"] == 1
