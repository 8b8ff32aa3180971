"""Preview: per SKU the action a sync would take, and for updates the exact fields it changes;
a sync run right after changes exactly those fields to exactly those values."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from app.integrations.woocommerce.fields import COMPARISON, flatten
from tests.catalogue.test_group_changes import variant
from tests.catalogue.test_variable_and_images import sync
from tests.helpers import create_connection, sim, sim_requests

pytestmark = pytest.mark.timeout(240)


async def preview(api, connection_id: str) -> dict:
    started = await api.post(f"/api/v1/connections/{connection_id}/preview")
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 60
    while True:
        result = (await api.get(f"/api/v1/previews/{started.json()['id']}", params={"limit": 500})).json()
        if result["status"] in ("completed", "failed"):
            assert result["status"] == "completed", result
            return result
        assert time.monotonic() < deadline, result
        await asyncio.sleep(0.1)


def records(woo_url: str) -> dict[str, dict]:
    """The store's records through the REST shape the preview compares (edit context)."""
    out = {}
    for p in sim(woo_url, "GET", "/products"):
        if p["status"] == "trash" or not p["sku"]:
            continue
        flat = {"name": p["name"], "description": p["description"], "sku": p["sku"], "status": p["status"],
                "regular_price": p["regular_price"], "stock_quantity": p["stock_quantity"],
                "weight": p["weight"], **{f"dimensions.{k}": v for k, v in p["dimensions"].items()}}
        out[p["sku"]] = flat
    return out


def same(field: str, a, b) -> bool:
    if field in ("regular_price", "weight") or field.startswith("dimensions."):
        return (Decimal(str(a)) if a not in (None, "") else None) == (Decimal(str(b)) if b not in (None, "") else None)
    if field == "description":
        return str(a or "").strip() == str(b or "").strip()
    return a == b


async def test_preview_differences_are_what_the_sync_then_writes(api, zoho, store, zoho_server, woo_server, worker):
    zoho.upsert_items([
        {"item_id": "31", "name": "Lamp", "sku": "P-LAMP", "rate": 20, "status": "active", "stock_on_hand": 3,
         "description": "A lamp"},
        {"item_id": "32", "name": "Desk", "sku": "P-DESK", "rate": 150, "status": "active", "stock_on_hand": 1},
        {"item_id": "33", "name": "Chair", "sku": "P-CHAIR", "rate": 45, "status": "active", "stock_on_hand": 9},
        {"item_id": "34", "name": "No sku", "sku": "", "rate": 1, "status": "active"},
        variant("35", "P-SOCK-S", "9", ("Size", "S")),
        variant("36", "P-SOCK-M", "9", ("Size", "M")),
    ])
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    await sync(api, conn["id"])

    zoho.patch_item("31", {"rate": 22.5, "description": "A brighter lamp"})
    zoho.patch_item("32", {"name": "Standing desk"})
    zoho.patch_item("36", {"stock_on_hand": 12})
    zoho.upsert_items([{"item_id": "37", "name": "Shelf", "sku": "P-SHELF", "rate": 30, "status": "active",
                        "stock_on_hand": 2}])
    before = records(woo_server.base_url)
    sim(woo_server.base_url, "POST", "/stats/reset")
    result = await preview(api, conn["id"])
    # A preview writes nothing.
    assert not [k for k in sim_requests(woo_server.base_url) if k.startswith("POST")]

    by_sku = {i["sku"] or i["zoho_item_id"]: i for i in result["items"]}
    actions = {sku: item["action"] for sku, item in by_sku.items()}
    assert actions["P-LAMP"] == actions["P-DESK"] == actions["P-SOCK-M"] == "update"
    assert actions["P-CHAIR"] == actions["P-SOCK-S"] == actions["zoho-group-G9"] == "unchanged"
    assert actions["P-SHELF"] == "create" and actions["34"] == "skip"
    assert by_sku["34"]["reason"] == "no SKU in Zoho"
    changes = {sku: {c["field"]: c for c in item["changes"]} for sku, item in by_sku.items()}
    assert set(changes["P-LAMP"]) == {"regular_price", "description"}
    assert changes["P-LAMP"]["regular_price"]["store"] == "20.00" and changes["P-LAMP"]["regular_price"]["zoho"] == "22.50"
    assert set(changes["P-DESK"]) == {"name"} and changes["P-DESK"]["name"]["zoho"] == "Standing desk"
    assert set(changes["P-SOCK-M"]) == {"stock_quantity"} and changes["P-SOCK-M"]["stock_quantity"]["zoho"] == 12
    assert changes["P-SHELF"]["sku"]["store"] is None and changes["P-SHELF"]["sku"]["zoho"] == "P-SHELF"
    assert result["summary"] == {"update": 3, "unchanged": 3, "create": 1, "skip": 1}

    await sync(api, conn["id"])
    after = records(woo_server.base_url)
    for sku in ("P-LAMP", "P-DESK", "P-SOCK-M"):
        for field in after[sku]:
            if field in changes[sku]:
                assert same(field, after[sku][field], changes[sku][field]["zoho"]), (sku, field)
                assert not same(field, before[sku][field], after[sku][field]), (sku, field)
            else:  # what the preview did not announce did not change
                assert same(field, before[sku][field], after[sku][field]), (sku, field, before[sku], after[sku])
    assert after["P-SHELF"]["regular_price"] == "30.00"

    # Once synced, the preview has nothing left to change.
    again = await preview(api, conn["id"])
    assert {i["action"] for i in again["items"]} == {"unchanged", "skip"}
    assert set(COMPARISON) >= set(flatten({"regular_price": "1", "dimensions": {"length": "1"}}))


async def test_preview_errors(api):
    missing = "00000000-0000-0000-0000-000000000000"
    response = await api.post(f"/api/v1/connections/{missing}/preview")
    assert response.status_code == 404 and response.json()["error"] == "NotFound"
    response = await api.get(f"/api/v1/previews/{missing}")
    assert response.status_code == 404 and set(response.json()) == {"error", "detail"}


async def test_preview_command_prints_the_changes(api, zoho, store, zoho_server, woo_server, worker, settings):
    from typer.testing import CliRunner

    from app.cli import cli
    from app.main import create_app
    from simulators.server import ServerThread

    zoho.upsert_items([{"item_id": "41", "name": "Vase", "sku": "P-VASE", "rate": 12, "status": "active",
                        "stock_on_hand": 2}])
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    await sync(api, conn["id"])
    zoho.patch_item("41", {"rate": 14})
    server = ServerThread(create_app(settings)).start()
    try:
        result = await asyncio.to_thread(CliRunner().invoke, cli, [
            "preview", "--connection", conn["id"], "--api-url", server.base_url])
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    assert "P-VASE" in result.output and "regular_price" in result.output
    assert "12.00" in result.output and "14.00" in result.output and "update 1" in result.output


async def test_old_previews_are_purged(api, ctx, zoho, zoho_server, woo_server):
    from sqlalchemy import text

    from app.core.retention import purge_old_records

    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    old = (await api.post(f"/api/v1/connections/{conn['id']}/preview")).json()["id"]
    new = (await api.post(f"/api/v1/connections/{conn['id']}/preview")).json()["id"]
    async with ctx.sessionmaker() as session:
        await session.execute(text("UPDATE previews SET created_at = now() - interval '31 days' WHERE id = :id"),
                              {"id": old})
        await session.commit()
    await purge_old_records(ctx)
    assert (await api.get(f"/api/v1/previews/{old}")).status_code == 404
    assert (await api.get(f"/api/v1/previews/{new}")).status_code == 200
