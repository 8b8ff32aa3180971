"""Whole-catalogue fidelity end to end: item groups become variable products with their
variations and attributes, images land once each, and an unchanged re-sync costs nothing."""

from __future__ import annotations

from collections import Counter, defaultdict
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
from tests.syncs.test_manual_sync import _dec

pytestmark = pytest.mark.timeout(240)


async def sync(api, connection_id: str) -> dict:
    run = await wait_for_run(api, (await start_run(api, connection_id))["id"], timeout=120)
    assert run["status"] == "completed", run
    return run


async def test_groups_become_variable_products_with_images_once(api, zoho, store, zoho_server, woo_server, worker):
    zoho.generate_catalogue(120, seed=11, groups=12, image_ratio=0.5)
    items = zoho.all_items()
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    run = await sync(api, conn["id"])
    assert run["failed"] == 0

    products = store_products(woo_server.base_url)
    by_sku = {p["sku"]: p for p in products if p["sku"]}
    groups: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        if item.get("group_id"):
            groups[item["group_id"]].append(item)
    assert len(groups) == 12

    for group_id, members in groups.items():
        active = [m for m in members if m["status"] == "active"]
        parent = by_sku[f"zoho-group-{group_id}"]
        assert parent["type"] == "variable" and parent["name"] == members[0]["group_name"].replace("&", "&amp;")
        assert parent["status"] == "draft"  # new products' status
        assert parent["description"] == Counter(m["description"] for m in active).most_common(1)[0][0].replace(
            "&", "&amp;")
        # Every attribute with the options its active variants use, flagged for variations.
        names = [members[0][f"attribute_name{s}"] for s in (1, 2, 3) if members[0].get(f"attribute_name{s}")]
        assert [a["name"] for a in parent["attributes"]] == names
        for slot, attribute in enumerate(parent["attributes"], start=1):
            assert attribute["variation"] is True
            assert set(attribute["options"]) == {m[f"attribute_option_name{slot}"] for m in active}
        for member in active:
            variation = by_sku[member["sku"]]
            assert variation["type"] == "variation" and variation["parent_id"] == parent["id"]
            assert variation["regular_price"] == format_price(Decimal(str(member["rate"])))
            assert variation["stock_quantity"] == int(Decimal(str(member["available_stock"])))
            assert variation["status"] == "publish" and variation["manage_stock"] is True
            reorder = member.get("reorder_level")
            assert variation["low_stock_amount"] == (int(Decimal(str(reorder))) if reorder not in (None, "") else None)
            package = member.get("package_details") or member
            assert variation["weight"] == convert(_dec(package.get("weight")), package.get("weight_unit"),
                                                  store.weight_unit, WEIGHT_IN_GRAMS, "weight")
            for axis in ("length", "width", "height"):
                assert variation["dimensions"][axis] == convert(_dec(package.get(axis)), package.get("dimension_unit"),
                                                                store.dimension_unit, LENGTH_IN_MM, "dimension")
            assert {"key": "_zoho_item_id", "value": member["item_id"]} in [
                {"key": m["key"], "value": m["value"]} for m in variation["meta_data"]]
            options = {a["value"] for a in variation["attributes"]}
            assert options == {member[f"attribute_option_name{s}"] for s in range(1, len(names) + 1)}
            assert len(variation["image_ids"]) == (1 if member["image_name"] else 0)
        with_images = [m for m in active if m["image_name"]]
        assert len(parent["image_ids"]) == len(with_images)
        if with_images:  # the parent's featured image is its first variant's picture
            first = min(with_images, key=lambda m: m["item_id"])
            assert parent["image_ids"][0] == by_sku[first["sku"]]["image_ids"][0]

    simple_with_image = [i for i in items if not i.get("group_id") and i["status"] == "active" and i["image_name"]]
    assert simple_with_image
    for item in simple_with_image:
        assert len(by_sku[item["sku"]]["image_ids"]) == 1

    # Every picture uploaded once, downloaded once.
    active_images = {i["item_id"] for i in items if i["status"] == "active" and i["image_name"]
                     and i.get("sku")}
    media = sim(woo_server.base_url, "GET", "/media")
    assert len(media) == len({m["sha256"] for m in media}) == len(active_images)
    assert sim_requests(zoho_server.base_url)["GET /items/{item_id}/image"] == len(active_images)

    # Batched: one SKU look-up per 100 SKUs, one variations call per parent (and one for images).
    calls = sim_requests(woo_server.base_url)
    assert calls["GET /products"] == 2, calls  # 120 items + 12 parents' SKUs
    assert calls["POST /products/{product_id}/variations/batch"] <= 2 * len(groups), calls
    assert calls["POST /wp/v2/media"] == len(active_images)

    # Unchanged re-sync: no downloads, no uploads, no writes.
    sim(zoho_server.base_url, "POST", "/stats/reset")
    sim(woo_server.base_url, "POST", "/stats/reset")
    again = await sync(api, conn["id"])
    unchanged = [i for i in await run_items(api, again["id"]) if i["action"] == "unchanged"]
    assert len(unchanged) == again["synced"]
    assert sim_requests(zoho_server.base_url)["GET /items/{item_id}/image"] == 0
    calls = sim_requests(woo_server.base_url)
    assert calls["POST /wp/v2/media"] == 0
    assert not [k for k in calls if "batch" in k], calls
    assert len(sim(woo_server.base_url, "GET", "/media")) == len(media)
