"""A variable product is its Zoho item group's: the group's own name, description and image
(featured, the variants' pictures as the gallery), read from `GET /itemgroups` in a full sync
and from `GET /itemgroups/{id}` (one call) when a webhook brings one variant."""

from __future__ import annotations

import pytest

from simulators.zoho.catalogue import render_image
from tests.catalogue.test_group_changes import variant
from tests.catalogue.test_preview import preview
from tests.catalogue.test_variable_and_images import sync
from tests.helpers import create_connection, run_items, sim, sim_requests, store_by_sku
from tests.webhooks.test_webhooks import deliver, enabled_connection, wait_settled

pytestmark = pytest.mark.timeout(240)



def shirt_catalogue(zoho) -> str:
    """Group G1 (three variants, two pictured) with fields of its own; its image is the third
    variant's picture, not the first's. Group G2 has none of its own. The group image's key."""
    zoho.upsert_items([
        variant("7101", "SHIRT-S", "1", ("Size", "S")) | {"description": "variant words"},
        variant("7102", "SHIRT-M", "1", ("Size", "M")) | {"description": "variant words"},
        variant("7103", "SHIRT-L", "1", ("Size", "L")) | {"description": "other words"},
        variant("7201", "CAP-S", "2", ("Size", "S")) | {"description": "a cap"},
        variant("7202", "CAP-M", "2", ("Size", "M")) | {"description": "a cap"},
        {"item_id": "7301", "name": "Mug", "sku": "MUG", "rate": 9, "status": "active", "stock_on_hand": 4},
    ])
    zoho.set_image("7101", render_image("small"), "png", "small.png")
    zoho.set_image("7103", render_image("large"), "png", "large.png")
    document = zoho.get_item("7103")["image_document_id"]
    zoho.set_group("G1", {"group_name": "Linen shirt", "description": "Woven in Lisbon, washed soft.",
                          "image_document_id": document, "image_name": "large.png", "image_type": "png"})
    return f"7103/{document}/large.png/png"


async def test_the_group_names_describes_and_pictures_its_variable_product(api, zoho, store, zoho_server,
                                                                           woo_server, worker):
    shirt_catalogue(zoho)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    run = await sync(api, conn["id"])
    assert run["failed"] == 0, await run_items(api, run["id"], "failed")

    products = store_by_sku(woo_server.base_url)
    shirt, cap = products["zoho-group-G1"], products["zoho-group-G2"]
    assert shirt["name"] == "Linen shirt" and shirt["description"] == "Woven in Lisbon, washed soft."
    # The group's picture is featured, the variants' follow as the gallery, each picture once.
    large, small = products["SHIRT-L"]["image_ids"][0], products["SHIRT-S"]["image_ids"][0]
    assert shirt["image_ids"] == [large, small]
    assert cap["name"] == "Group 2" and cap["description"] == "a cap" and cap["image_ids"] == []
    calls = sim_requests(zoho_server.base_url)
    assert calls["GET /itemgroups"] == 1  # every group, 200 a page
    assert calls["GET /items/{item_id}/image"] == 2  # the group's picture is a variant's: not fetched again
    assert calls.get("GET /itemgroups/{group_id}", 0) == 0
    assert len(sim(woo_server.base_url, "GET", "/media")) == 2

    # Unchanged: nothing written, nothing downloaded; the groups cost their one page again.
    sim(zoho_server.base_url, "POST", "/stats/reset")
    sim(woo_server.base_url, "POST", "/stats/reset")
    again = await sync(api, conn["id"])
    assert {i["action"] for i in await run_items(api, again["id"])} == {"unchanged"}
    calls = sim_requests(zoho_server.base_url)
    assert calls["GET /itemgroups"] == 1 and calls.get("GET /items/{item_id}/image", 0) == 0
    writes = sim_requests(woo_server.base_url)
    assert not [k for k in writes if k.startswith(("POST", "PUT"))], writes

    # The group's own name and description change in Zoho: the preview shows them on the
    # variable product, and the sync writes that product alone.
    zoho.set_group("G1", {"group_name": "Linen shirt, oat", "description": "Now in oat."})
    shown = {i["sku"]: i for i in (await preview(api, conn["id"]))["items"]}
    assert shown["zoho-group-G1"]["action"] == "update"
    assert {c["field"]: (c["store"], c["zoho"]) for c in shown["zoho-group-G1"]["changes"]} == {
        "name": ("Linen shirt", "Linen shirt, oat"), "description": ("Woven in Lisbon, washed soft.", "Now in oat.")}
    assert {i["action"] for sku, i in shown.items() if sku != "zoho-group-G1"} == {"unchanged"}
    sim(woo_server.base_url, "POST", "/stats/reset")
    changed = await sync(api, conn["id"])
    written = [i for i in await run_items(api, changed["id"]) if i["action"] != "unchanged"]
    assert [(i["sku"], i["action"]) for i in written] == [("zoho-group-G1", "update")]
    shirt = store_by_sku(woo_server.base_url)["zoho-group-G1"]
    assert shirt["name"] == "Linen shirt, oat" and shirt["description"] == "Now in oat."
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == 1


async def test_a_webhook_for_a_variant_reads_its_group_in_one_call(api, ctx, zoho, store, zoho_server, woo_server,
                                                                   worker):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, worker, sync_first=False)
    zoho.replace_items([])
    shirt_catalogue(zoho)
    sim(zoho_server.base_url, "POST", "/stats/reset")
    response = await deliver(api, ctx, conn["id"], {"item_id": "7102", "sku": "SHIRT-M"})
    assert response.status_code == 202, response.text
    [event] = await wait_settled(api, conn["id"], 1)
    assert event["outcome"] == "synced", event

    calls = sim_requests(zoho_server.base_url)
    assert calls["GET /itemgroups/{group_id}"] == 1  # the group and all its variants, in one call
    assert calls.get("GET /itemgroups", 0) == 0 and calls.get("GET /items", 0) == 0
    products = store_by_sku(woo_server.base_url)
    shirt = products["zoho-group-G1"]
    assert shirt["name"] == "Linen shirt" and shirt["description"] == "Woven in Lisbon, washed soft."
    assert {products[s]["parent_id"] for s in ("SHIRT-S", "SHIRT-M", "SHIRT-L")} == {shirt["id"]}
    assert shirt["image_ids"][0] == products["SHIRT-L"]["image_ids"][0]
