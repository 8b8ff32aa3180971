"""Real-time sync: set-up against the Zoho simulator's settings endpoints, the signed intake,
the job that fetches and upserts the item, coalescing, catch-up and every kind of bad input."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import httpx
import pytest
from sqlalchemy import select

from app.models import Connection, WebhookEvent
from app.webhooks.signature import sign
from tests.helpers import create_connection, sim, start_run, store_by_sku, wait_for_run

pytestmark = pytest.mark.timeout(120)


async def enabled_connection(api, zoho, zoho_server, woo_server, worker, *, sync_first: bool = True, count: int = 20):
    zoho.generate_catalogue(count, seed=11)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    if sync_first:
        run = await wait_for_run(api, (await start_run(api, conn["id"]))["id"])
        assert run["status"] == "completed"
    response = await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": True})
    assert response.status_code == 200, response.text
    if worker_started(worker):  # enabling catches up at once: let that finish before the test acts
        for _ in range(100):
            if (await api.get(f"/api/v1/connections/{conn['id']}/webhook")).json()["last_catchup_at"]:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the catch-up that enabling starts did not finish")
    return conn


def worker_started(worker) -> bool:
    return getattr(worker, "__name__", "") == "start"


async def secret_of(ctx, connection_id: str) -> str:
    async with ctx.sessionmaker() as session:
        connection = await session.get(Connection, uuid.UUID(connection_id))
        sealed = connection.webhook_secret
    return ctx.keyring.open(sealed, connection_id=connection.id, purpose="webhook_secret")["secret"]


async def deliver(api, ctx, connection_id: str, item: dict, *, secret: str | None = None, query: dict | None = None,
                  signature: str | None = None, raw: bytes | None = None) -> httpx.Response:
    body = raw if raw is not None else json.dumps({"item": item}).encode()
    query = query or {}
    if signature is None:
        signature = sign(secret or await secret_of(ctx, connection_id), query.items(), body)
    return await api.post(f"/webhooks/zoho/{connection_id}", content=body, params=query,
                          headers={"X-Zoho-Webhook-Signature": signature, "Content-Type": "application/json",
                                   "Authorization": ""})


async def events(api, connection_id: str, **params) -> list[dict]:
    return (await api.get(f"/api/v1/connections/{connection_id}/webhook/events", params=params)).json()["items"]


async def wait_settled(api, connection_id: str, count: int, timeout: float = 20.0) -> list[dict]:
    for _ in range(int(timeout * 10)):
        rows = await events(api, connection_id, limit=500)
        if len(rows) >= count and all(r["outcome"] != "queued" for r in rows):
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(f"events not settled: {rows}")


async def test_enable_toggle_disable_through_zohos_settings(api, ctx, zoho, store, zoho_server, woo_server, worker):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, worker, sync_first=False, count=3)
    [hook] = zoho.webhooks.values()
    [flow] = zoho.workflows.values()
    assert hook["url"].endswith(f"/webhooks/zoho/{conn['id']}") and hook["method"] == "POST"
    assert re.fullmatch(r"[A-Za-z0-9]{12,50}", hook["secret"]) and hook["secret"] == await secret_of(ctx, conn["id"])
    assert flow["instant_actions"][0]["action_id"] == hook["webhook_id"] and flow["is_active"]
    state = (await api.get(f"/api/v1/connections/{conn['id']}/webhook")).json()
    assert state["enabled"] and state["active"] and state["zoho_webhook_id"] == hook["webhook_id"]
    assert state["zoho_workflow_id"] == flow["workflow_id"]
    assert hook["secret"] not in json.dumps(state)

    again = await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": True})
    assert again.status_code == 200 and len(zoho.webhooks) == 1 and len(zoho.workflows) == 1

    off = await api.patch(f"/api/v1/connections/{conn['id']}/webhook", json={"active": False})
    assert off.json()["active"] is False and zoho.workflows[flow["workflow_id"]]["is_active"] is False
    on = await api.patch(f"/api/v1/connections/{conn['id']}/webhook", json={"active": True})
    assert on.json()["active"] is True and zoho.workflows[flow["workflow_id"]]["is_active"] is True

    gone = await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": False})
    assert gone.json()["enabled"] is False and zoho.webhooks == {} and zoho.workflows == {}
    assert (await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": False})).status_code == 200
    toggle = await api.patch(f"/api/v1/connections/{conn['id']}/webhook", json={"active": True})
    assert toggle.status_code == 409
    bad = await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": "maybe"})
    assert bad.status_code == 422


async def test_signed_event_updates_the_store_and_a_replay_writes_nothing(api, ctx, zoho, store, zoho_server,
                                                                          woo_server, worker):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, worker)
    item = next(i for i in zoho.all_items() if i["status"] == "active" and i.get("sku"))
    zoho.patch_item(item["item_id"], {"rate": 77.7, "available_stock": 9})
    sim(woo_server.base_url, "POST", "/stats/reset")
    hinted = {"item_id": item["item_id"], "sku": item["sku"], "rate": 1.0}  # the payload is only a hint
    response = await deliver(api, ctx, conn["id"], hinted)
    assert response.status_code == 202 and response.json()["outcome"] == "queued"
    [event] = await wait_settled(api, conn["id"], 1)
    assert event["outcome"] == "synced" and event["sku"] == item["sku"] and event["run_id"]
    product = store_by_sku(woo_server.base_url)[item["sku"]]
    assert product["regular_price"] == "77.70" and product["stock_quantity"] == 9

    replay = await deliver(api, ctx, conn["id"], hinted)
    assert replay.status_code == 202
    rows = await wait_settled(api, conn["id"], 2)
    assert rows[0]["outcome"] == "unchanged"
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == 1
    state = (await api.get(f"/api/v1/connections/{conn['id']}/webhook")).json()
    assert state["last_received_at"] is not None
    runs = (await api.get(f"/api/v1/connections/{conn['id']}/syncs")).json()["items"]
    assert {r["kind"] for r in runs} >= {"webhook", "manual"}


async def test_forged_missing_and_foreign_signatures_are_refused(api, ctx, zoho, store, zoho_server, woo_server,
                                                                 worker):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, worker)
    other = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await api.put(f"/api/v1/connections/{other['id']}/webhook", json={"enabled": True})
    for _ in range(100):  # its catch-up must be over before the item changes
        if (await api.get(f"/api/v1/connections/{other['id']}/webhook")).json()["last_catchup_at"]:
            break
        await asyncio.sleep(0.1)
    item = next(i for i in zoho.all_items() if i["status"] == "active")
    zoho.patch_item(item["item_id"], {"rate": 55.5})
    before = store_by_sku(woo_server.base_url)[item["sku"]]["regular_price"]
    foreign = await secret_of(ctx, other["id"])
    for kwargs in ({"signature": "0" * 64}, {"signature": ""}, {"secret": foreign},
                   {"signature": "zz"}, {"query": {"a": "1"}, "signature": sign(await secret_of(ctx, conn["id"]), [], b"{}")}):
        response = await deliver(api, ctx, conn["id"], {"item_id": item["item_id"]}, **kwargs)
        assert response.status_code == 401, kwargs
        assert response.json()["error"] == "Unauthorized"
    await asyncio.sleep(1.0)
    assert store_by_sku(woo_server.base_url)[item["sku"]]["regular_price"] == before
    assert await events(api, conn["id"]) == []  # refusals are counted and logged, not stored


async def test_signature_covers_sorted_query_parameters(api, ctx, zoho, store, zoho_server, woo_server, worker):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, worker, sync_first=False, count=3)
    item = zoho.all_items()[0]
    body = json.dumps({"item": {"item_id": item["item_id"]}}).encode()
    secret = await secret_of(ctx, conn["id"])
    import hashlib
    import hmac

    expected = hmac.new(secret.encode(), b"asecondzfirst" + body, hashlib.sha256).hexdigest()
    response = await deliver(api, ctx, conn["id"], {}, raw=body, query={"z": "first", "a": "second"}, signature=expected)
    assert response.status_code == 202


async def test_inactive_webhook_acknowledges_and_ignores(api, ctx, zoho, store, zoho_server, woo_server, worker):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, worker, sync_first=False, count=3)
    await api.patch(f"/api/v1/connections/{conn['id']}/webhook", json={"active": False})
    await asyncio.sleep(1.1)  # the intake's config cache lives a second
    item = zoho.all_items()[0]
    response = await deliver(api, ctx, conn["id"], {"item_id": item["item_id"]})
    assert response.status_code == 202 and response.json()["outcome"] == "ignored"
    assert [e["outcome"] for e in await events(api, conn["id"])] == ["ignored"]
    assert (await events(api, conn["id"], outcome="ignored"))[0]["detail"] == "the webhook is inactive"


async def test_bad_input_gets_a_clear_status_and_a_recorded_outcome(api, ctx, zoho, store, zoho_server, woo_server,
                                                                    worker):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, worker, sync_first=False, count=3)
    secret = await secret_of(ctx, conn["id"])
    cases = [(b"not json", 400), (b'{"hello": "world"}', 400), (b"[1, 2]", 400), (b'{"item": {"item_id": "x y"}}', 400)]
    for raw, status in cases:
        response = await deliver(api, ctx, conn["id"], {}, raw=raw, secret=secret)
        assert response.status_code == status, raw
        assert response.json()["error"] == "BadRequest"
    huge = b'{"item": {"item_id": "1", "pad": "' + b"x" * (1024 * 1024) + b'"}}'
    response = await deliver(api, ctx, conn["id"], {}, raw=huge, secret=secret)
    assert response.status_code == 413 and response.json()["error"] == "PayloadTooLarge"
    unknown = await api.post(f"/webhooks/zoho/{uuid.uuid4()}", content=b"{}", headers={"Authorization": ""})
    assert unknown.status_code == 404
    missing = await deliver(api, ctx, conn["id"], {"item_id": "999999999"}, secret=secret)
    assert missing.status_code == 202
    rows = await wait_settled(api, conn["id"], 5)
    assert rows[0]["outcome"] == "not_found"
    assert sorted(r["outcome"] for r in rows[1:]) == ["rejected"] * 4


async def test_events_of_a_deleted_connection_are_settled_not_lost(api, ctx, zoho, store, zoho_server, woo_server):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, lambda: None, sync_first=False, count=3)
    item = zoho.all_items()[0]
    assert (await deliver(api, ctx, conn["id"], {"item_id": item["item_id"]})).status_code == 202
    assert (await api.delete(f"/api/v1/connections/{conn['id']}")).status_code == 204
    from app.webhooks.processing import process_events

    assert await process_events(ctx, uuid.UUID(conn["id"])) is None
    async with ctx.sessionmaker() as session:
        event = await session.scalar(select(WebhookEvent))
    assert event.outcome == "failed" and event.detail == "the connection was deleted"


async def test_a_burst_for_one_item_becomes_one_store_write(api, ctx, zoho, store, zoho_server, woo_server, worker):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, worker)
    item = next(i for i in zoho.all_items() if i["status"] == "active" and i.get("sku"))
    zoho.patch_item(item["item_id"], {"rate": 42.42})
    sim(woo_server.base_url, "POST", "/stats/reset")
    zoho.reset_stats()
    responses = await asyncio.gather(*(deliver(api, ctx, conn["id"], {"item_id": item["item_id"]}) for _ in range(50)))
    assert {r.status_code for r in responses} == {202}
    rows = await wait_settled(api, conn["id"], 50)
    assert len(rows) == 50 and {r["outcome"] for r in rows} <= {"synced", "unchanged"}
    assert sim(woo_server.base_url, "GET", "/stats")["objects_written"] == 1
    assert zoho.stats()["requests"].get("GET /itemdetails", 0) <= 3  # a fetch per pass, not per event
    assert store_by_sku(woo_server.base_url)[item["sku"]]["regular_price"] == "42.42"


async def test_catch_up_finds_what_changed_while_inactive(api, ctx, zoho, store, zoho_server, woo_server, worker):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, worker)
    await api.patch(f"/api/v1/connections/{conn['id']}/webhook", json={"active": False})
    item = next(i for i in zoho.all_items() if i["status"] == "active" and i.get("sku"))
    zoho.patch_item(item["item_id"], {"rate": 12.34})
    await api.patch(f"/api/v1/connections/{conn['id']}/webhook", json={"active": True})  # catches up at once
    for _ in range(100):
        if store_by_sku(woo_server.base_url)[item["sku"]]["regular_price"] == "12.34":
            break
        await asyncio.sleep(0.1)
    assert store_by_sku(woo_server.base_url)[item["sku"]]["regular_price"] == "12.34"
    runs = (await api.get(f"/api/v1/connections/{conn['id']}/syncs")).json()["items"]
    catchups = [r for r in runs if r["kind"] == "catchup"]
    assert catchups and any(r["synced"] >= 1 for r in catchups)
    calls = zoho.stats()["requests"]
    assert calls.get("GET /items/{item_id}", 0) == 0  # one filtered list call, not one per item
    state = (await api.get(f"/api/v1/connections/{conn['id']}/webhook")).json()
    assert state["last_catchup_at"] is not None


async def test_zoho_delivers_over_http_and_the_store_follows(ctx, settings, zoho, store, zoho_server, woo_server,
                                                              worker):
    """The whole loop over real HTTP: the simulator's item change → its signed POST to the
    running API → a worker's job → the store."""
    from app.config import Settings
    from app.main import create_app
    from simulators.server import ServerThread, free_port

    port = free_port()
    api_settings = Settings(**(settings.model_dump() | {"public_base_url": f"http://127.0.0.1:{port}"}))
    server = ServerThread(create_app(api_settings), port=port).start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": "Bearer test-token"}) as api:
            conn = await enabled_connection(api, zoho, zoho_server, woo_server, worker)
            [hook] = zoho.webhooks.values()
            assert hook["url"] == f"{server.base_url}/webhooks/zoho/{conn['id']}"
            item = next(i for i in zoho.all_items() if i["status"] == "active" and i.get("sku"))
            zoho.patch_item(item["item_id"], {"rate": 31.5, "name": "Renamed in Zoho"})
            for _ in range(100):
                product = store_by_sku(woo_server.base_url)[item["sku"]]
                if product["regular_price"] == "31.50":
                    break
                await asyncio.sleep(0.1)
            assert product["regular_price"] == "31.50" and product["name"] == "Renamed in Zoho"
            [delivery] = [d for d in zoho.deliveries if d["item_id"] == item["item_id"]]
            assert delivery["status"] == 202 and delivery["signature"]
            rows = await wait_settled(api, conn["id"], 1)
            assert rows[0]["outcome"] == "synced"
    finally:
        server.stop()
