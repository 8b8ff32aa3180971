"""A webhook for one variant syncs it through its whole group: the variation changes, the rest
of the group costs nothing, and Zoho is asked for the group once."""

from __future__ import annotations

import asyncio

import pytest

from tests.catalogue.test_variable_and_images import sync
from tests.helpers import create_connection, sim, sim_requests, store_by_sku
from tests.webhooks.test_webhooks import deliver, wait_settled

pytestmark = pytest.mark.timeout(120)


async def test_webhook_for_a_variant_updates_its_variation(api, ctx, zoho, store, zoho_server, woo_server, worker):
    zoho.generate_catalogue(30, seed=5, groups=4)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    await sync(api, conn["id"])
    response = await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": True})
    assert response.status_code == 200, response.text
    for _ in range(100):  # enabling catches up at once: let that finish first
        if (await api.get(f"/api/v1/connections/{conn['id']}/webhook")).json()["last_catchup_at"]:
            break
        await asyncio.sleep(0.1)
    member = next(i for i in zoho.all_items() if i.get("group_id") and i["status"] == "active" and i.get("sku"))
    zoho.patch_item(member["item_id"], {"rate": 99.5})
    sim(zoho_server.base_url, "POST", "/stats/reset")
    sim(woo_server.base_url, "POST", "/stats/reset")

    response = await deliver(api, ctx, conn["id"], {"item_id": member["item_id"], "sku": member["sku"]})
    assert response.status_code == 202
    [event] = [e for e in await wait_settled(api, conn["id"], 1) if e["sku"] == member["sku"]]
    assert event["outcome"] == "synced", event
    variation = store_by_sku(woo_server.base_url)[member["sku"]]
    assert variation["type"] == "variation" and variation["regular_price"] == "99.50"
    zoho_calls = sim_requests(zoho_server.base_url)
    assert zoho_calls["GET /items"] <= 2  # the group's items (plus at most one catch-up page)
    calls = sim_requests(woo_server.base_url)
    assert calls["POST /products/{product_id}/variations/batch"] == 1 and calls["POST /products/batch"] == 0, calls
    rows = (await api.get(f"/api/v1/syncs/{event['run_id']}/items", params={"limit": 500})).json()["items"]
    assert [r["zoho_item_id"] for r in rows if r["action"] == "update"] == [member["item_id"]]
