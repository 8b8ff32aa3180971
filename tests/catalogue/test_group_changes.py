"""Variants that move, vanish or arrive malformed: each handled without a duplicate-SKU loop,
with a recorded reason, and the rest of the group still syncs."""

from __future__ import annotations

import pytest

from tests.catalogue.test_variable_and_images import sync
from tests.helpers import (
    create_connection,
    run_items,
    sim,
    sim_requests,
    store_by_sku,
    store_products,
    wait_for_run,
)

pytestmark = pytest.mark.timeout(240)


def variant(item_id: str, sku: str | None, group: str, *options: tuple[str, str], status: str = "active",
            rate: float = 10, stock: int = 5) -> dict:
    fields = {"item_id": item_id, "name": f"{group}-{'-'.join(o for _, o in options)}", "sku": sku or "",
              "rate": rate, "status": status, "stock_on_hand": stock, "group_id": f"G{group}",
              "group_name": f"Group {group}"}
    for slot, (name, option) in enumerate(options, start=1):
        fields[f"attribute_name{slot}"] = name
        fields[f"attribute_option_name{slot}"] = option
    return fields



async def test_moves_removals_and_inactive_variants(api, zoho, store, zoho_server, woo_server, worker):
    zoho.upsert_items([
        {"item_id": "7001", "name": "Mug red", "sku": "MUG-R", "rate": 9, "status": "active", "stock_on_hand": 4},
        variant("7002", "MUG-B", "1", ("Colour", "Blue")),
        variant("7003", "MUG-G", "1", ("Colour", "Green")),
        variant("7004", "MUG-Y", "1", ("Colour", "Yellow")),
    ])
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    await sync(api, conn["id"])
    before = store_by_sku(woo_server.base_url)
    simple_id, parent_id = before["MUG-R"]["id"], before["zoho-group-G1"]["id"]
    assert before["MUG-R"]["type"] == "simple"

    # The simple item joins the group, one variant is deleted in Zoho, one made inactive.
    zoho.patch_item("7001", variant("7001", "MUG-R", "1", ("Colour", "Red")))
    zoho.delete_item("7003")
    zoho.patch_item("7004", {"status": "inactive"})
    run = await sync(api, conn["id"])
    assert run["failed"] == 0, await run_items(api, run["id"], "failed")

    after = {p["id"]: p for p in store_products(woo_server.base_url)}
    red = next(p for p in after.values() if p["sku"] == "MUG-R")
    assert red["type"] == "variation" and red["parent_id"] == parent_id and red["status"] == "publish"
    old = after[simple_id]  # the simple product is set aside, its SKU handed to the variation
    assert old["type"] == "simple" and old["sku"] == "" and old["status"] == "private"
    assert old["stock_quantity"] == 0
    for sku in ("MUG-G", "MUG-Y"):  # never deleted: out of stock and private
        gone = after[before[sku]["id"]]
        assert gone["status"] == "private" and gone["stock_quantity"] == 0 and gone["stock_status"] == "outofstock"
    parent = after[parent_id]
    assert sorted(parent["attributes"][0]["options"]) == ["Blue", "Red"]  # active variants' options only
    items = {i["zoho_item_id"]: i for i in await run_items(api, run["id"])}
    assert items["7003"]["action"] == "update" and "no longer in Zoho" in items["7003"]["error"]

    # Nothing changed since: nothing is written, nothing retired twice.
    sim(woo_server.base_url, "POST", "/stats/reset")
    again = await sync(api, conn["id"])
    assert again["failed"] == 0
    assert not [k for k in sim_requests(woo_server.base_url) if "batch" in k]

    # The variant leaves the group again: its variation is freed and a simple product takes the SKU.
    zoho.patch_item("7001", {"group_id": "", "group_name": "", "attribute_name1": "", "attribute_option_name1": ""})
    run = await sync(api, conn["id"])
    assert run["failed"] == 0, await run_items(api, run["id"], "failed")
    now = store_by_sku(woo_server.base_url)
    assert now["MUG-R"]["type"] == "simple" and now["MUG-R"]["status"] == "draft"  # a new product
    assert now["MUG-R"]["stock_quantity"] == 5
    assert {p["id"] for p in store_products(woo_server.base_url) if p["sku"] == "MUG-R"} == {now["MUG-R"]["id"]}


async def test_malformed_groups_skip_only_the_bad_variants(api, zoho, store, zoho_server, woo_server, worker):
    zoho.upsert_items([
        variant("8001", "TEE-S", "2", ("Größe", "S"), ("Farbe, Ton", "Rot, dunkel")),
        variant("8002", "TEE-M", "2", ("Größe", "M"), ("Farbe, Ton", "Rot, dunkel")),
        variant("8003", None, "2", ("Größe", "L"), ("Farbe, Ton", "Rot, dunkel")),  # no SKU
        variant("8004", "TEE-XL-A", "2", ("Größe", "XL"), ("Farbe, Ton", "Blau")),  # same options twice
        variant("8005", "TEE-XL-B", "2", ("Größe", "XL"), ("Farbe, Ton", "Blau")),
        variant("8006", "TEE-XS", "2", ("Größe", "XS"), ("Farbe, Ton", "")),  # an option missing
        variant("8007", "TEE-P", "2", ("Größe", "S|M"), ("Farbe, Ton", "Blau")),  # the store's separator
        variant("8008", "TEE-Q", "2", ("Size", "S"), ("Farbe, Ton", "Blau")),  # not the group's attributes
    ])
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    run = await sync(api, conn["id"])
    assert run["failed"] == 0
    reasons = {i["zoho_item_id"]: i["error"] for i in await run_items(api, run["id"], "skipped")}
    assert reasons["8003"] == "no SKU in Zoho"
    assert "are on 2 variants" in reasons["8004"] and "are on 2 variants" in reasons["8005"]
    assert "no option for attribute 'Farbe, Ton'" in reasons["8006"]
    assert "'|'" in reasons["8007"]
    assert "differ from those of item group" in reasons["8008"]
    assert len(reasons) == 6

    products = store_by_sku(woo_server.base_url)
    parent = products["zoho-group-G2"]
    assert [(a["name"], a["options"]) for a in parent["attributes"]] == [
        ("Größe", ["S", "M"]), ("Farbe, Ton", ["Rot, dunkel"])]
    small = products["TEE-S"]
    assert {a["value"] for a in small["attributes"]} == {"S", "Rot, dunkel"}
    assert {"TEE-S", "TEE-M"} <= set(products) and not {"TEE-XL-A", "TEE-XL-B", "TEE-XS", "TEE-P", "TEE-Q"} & set(products)


async def test_create_missing_variations_off_leaves_new_variants_out(api, zoho, store, zoho_server, woo_server,
                                                                     worker):
    zoho.upsert_items([variant("9001", "CAP-1", "3", ("Size", "One"))])
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    await sync(api, conn["id"])
    await api.patch(f"/api/v1/connections/{conn['id']}", json={"settings": {"create_missing_variations": False}})
    zoho.upsert_items([variant("9002", "CAP-2", "3", ("Size", "Two"))])
    run = await sync(api, conn["id"])
    reasons = {i["zoho_item_id"]: i["error"] for i in await run_items(api, run["id"], "skipped")}
    assert reasons["9002"] == "not in the store and create_missing_variations is off"
    assert "CAP-2" not in store_by_sku(woo_server.base_url)


async def test_worker_killed_mid_run_duplicates_no_parent_or_variation(api, zoho, store, zoho_server, woo_server,
                                                                       worker):
    zoho.generate_catalogue(160, seed=3, groups=25, image_ratio=0.3)
    sim(woo_server.base_url, "PUT", "/config", json={"per_item_latency_ms": 15})
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, batch_size=5)
    first = worker()
    run = (await api.post(f"/api/v1/connections/{conn['id']}/syncs")).json()
    await wait_for_run(api, run["id"], until=lambda r: r["synced"] >= 40)
    first.kill()
    worker()
    done = await wait_for_run(api, run["id"], timeout=180)
    assert done["status"] == "completed" and done["failed"] == 0, done
    products = store_products(woo_server.base_url)
    skus = [p["sku"].lower() for p in products if p["sku"]]
    assert len(skus) == len(set(skus))
    groups = {i["group_id"] for i in zoho.all_items() if i.get("group_id")}
    parents = [p for p in products if p["type"] == "variable"]
    assert len(parents) == len(groups)
    media = sim(woo_server.base_url, "GET", "/media")
    assert len({m["sha256"] for m in media}) == len(media)  # no picture uploaded twice


async def test_a_variant_moving_to_another_group_takes_its_sku_along(api, zoho, store, zoho_server, woo_server,
                                                                     worker):
    zoho.upsert_items([
        variant("9101", "BAG-S", "5", ("Size", "S")),
        variant("9102", "BAG-M", "5", ("Size", "M")),
        variant("9103", "BOX-S", "6", ("Size", "S")),
    ])
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    await sync(api, conn["id"])
    before = store_by_sku(woo_server.base_url)
    zoho.patch_item("9102", variant("9102", "BAG-M", "6", ("Size", "M")))  # now in group 6
    run = await sync(api, conn["id"])
    assert run["failed"] == 0, await run_items(api, run["id"], "failed")
    after = {p["id"]: p for p in store_products(woo_server.base_url)}
    moved = next(p for p in after.values() if p["sku"] == "BAG-M")
    assert moved["parent_id"] == before["zoho-group-G6"]["id"] and moved["status"] == "publish"
    old = after[before["BAG-M"]["id"]]
    assert old["sku"] == "" and old["status"] == "private" and old["parent_id"] == before["zoho-group-G5"]["id"]
