"""`POST /api/v1/syncs/{id}/retry-failed`: a new run of exactly the run's failed items, planned
again from Zoho (one /itemdetails call, no catalogue scan), refused with a reason while that is
not possible; and the status page's recent items, newest first, failed ones only on request."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import insert, text

from app.models import SyncRun, SyncRunItem
from app.syncs import runner
from app.syncs.service import recent_items
from tests.helpers import create_connection, sim, sim_requests, start_run, store_by_sku

pytestmark = pytest.mark.timeout(120)
REFUSED_BATCH = {"status": 400, "path_contains": "/products/batch",
                 "body": {"code": "rest_invalid_param", "message": "Invalid parameter(s): create",
                          "data": {"status": 400}}}


def catalogue(count: int) -> list[dict]:
    return [{"item_id": str(700 + n), "name": f"Mug {n}", "sku": f"MUG-{n}", "rate": 5 + n, "status": "active",
             "stock_on_hand": 3} for n in range(count)]


async def run_in_process(ctx, run_id: str) -> None:
    """The plan and drive jobs, as a worker runs them."""
    await runner.plan_run(ctx, uuid.UUID(run_id))
    await runner.drive_run(ctx, uuid.UUID(run_id))


async def items_of(api, run_id: str) -> list[dict]:
    return (await api.get(f"/api/v1/syncs/{run_id}/items", params={"limit": 500})).json()["items"]


async def a_run_with_failures(api, ctx, zoho, zoho_server, woo_server) -> tuple[dict, dict, set[str]]:
    """Six products written three a batch; the store refuses the first batch."""
    zoho.upsert_items(catalogue(6))
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, batch_size=3, store_concurrency=1)
    sim(woo_server.base_url, "PUT", "/config", json={"fail_next": [REFUSED_BATCH]})
    run = await start_run(api, conn["id"])
    await run_in_process(ctx, run["id"])
    done = (await api.get(f"/api/v1/syncs/{run['id']}")).json()
    failed = {i["sku"] for i in await items_of(api, run["id"]) if i["status"] == "failed"}
    assert done["status"] == "completed" and done["failed"] == 3 and done["synced"] == 3, done
    return conn, done, failed


async def test_retry_failed_plans_exactly_the_failed_items_again_from_zoho(api, ctx, zoho, store, zoho_server,
                                                                           woo_server):
    conn, source, failed = await a_run_with_failures(api, ctx, zoho, zoho_server, woo_server)
    zoho.patch_item("700", {"rate": 99})  # changed in Zoho since: the retry writes today's price
    sim(zoho_server.base_url, "POST", "/stats/reset")
    sim(woo_server.base_url, "POST", "/stats/reset")

    response = await api.post(f"/api/v1/syncs/{source['id']}/retry-failed")
    assert response.status_code == 202, response.text
    retry = response.json()
    assert retry["kind"] == "retry" and retry["retry_of"] == source["id"] and retry["status"] == "queued"
    assert set(retry) >= {"id", "status", "total", "synced", "failed", "pending", "skipped", "progress"}
    # A double click: the first retry is active, so the second starts nothing.
    again = await api.post(f"/api/v1/syncs/{source['id']}/retry-failed")
    assert again.status_code == 409 and "already being retried" in again.json()["detail"]
    assert (await api.post(f"/api/v1/connections/{conn['id']}/syncs")).status_code == 409  # one steered run

    await run_in_process(ctx, retry["id"])
    done = (await api.get(f"/api/v1/syncs/{retry['id']}")).json()
    assert done["status"] == "completed" and done["synced"] == 3 and done["failed"] == 0, done
    assert sorted(i["sku"] for i in await items_of(api, retry["id"])) == sorted(failed)
    zoho_calls, store_calls = sim_requests(zoho_server.base_url), sim_requests(woo_server.base_url)
    assert zoho_calls["GET /itemdetails"] == 1 and zoho_calls["GET /items"] == 0  # no catalogue scan
    assert store_calls["POST /products/batch"] == 1
    assert "MUG-0" in failed and store_by_sku(woo_server.base_url)["MUG-0"]["regular_price"] == "99.00"
    assert len(store_by_sku(woo_server.base_url)) == 6
    # The status page shows the retry now: it is the connection's newest steered run.
    latest = (await api.get(f"/api/v1/connections/{conn['id']}/syncs")).json()["items"][0]
    assert latest["id"] == retry["id"]

    # Nothing failed in the retry; the source can be retried again, and its items are unchanged now.
    nothing = await api.post(f"/api/v1/syncs/{retry['id']}/retry-failed")
    assert nothing.status_code == 409 and "no failed items" in nothing.json()["detail"]
    sim(woo_server.base_url, "POST", "/stats/reset")
    second = (await api.post(f"/api/v1/syncs/{source['id']}/retry-failed")).json()
    await run_in_process(ctx, second["id"])
    assert {i["action"] for i in await items_of(api, second["id"])} == {"unchanged"}
    assert sim_requests(woo_server.base_url)["POST /products/batch"] == 0


async def test_retry_failed_is_refused_with_a_reason(api, ctx):
    assert (await api.post(f"/api/v1/syncs/{uuid.uuid4()}/retry-failed")).status_code == 404
    conn = await create_connection(api, "http://127.0.0.1:9", "http://127.0.0.1:9")
    connection_id = uuid.UUID(conn["id"])
    done, active = uuid.uuid4(), uuid.uuid4()
    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(insert(SyncRun), [
            {"id": done, "connection_id": connection_id, "kind": "manual", "status": "completed"},
            {"id": active, "connection_id": connection_id, "kind": "manual", "status": "running"}])
        await db.execute(insert(SyncRunItem), [
            {"run_id": done, "zoho_item_id": "1", "sku": "A", "action": "create", "status": "failed", "attempts": 1},
            {"run_id": active, "zoho_item_id": "1", "sku": "A", "action": "create", "status": "failed",
             "attempts": 1}])

    still = await api.post(f"/api/v1/syncs/{active}/retry-failed")
    assert still.status_code == 409 and "still running" in still.json()["detail"]
    busy = await api.post(f"/api/v1/syncs/{done}/retry-failed")
    assert busy.status_code == 409 and f"active sync {active}" in busy.json()["detail"]
    assert busy.json()["error"] == "Conflict"

    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(text("UPDATE sync_runs SET status = 'cancelled' WHERE id = :id"), {"id": active})
        await db.execute(text("UPDATE sync_run_items SET status = 'synced' WHERE run_id = :id"), {"id": done})
    clean = await api.post(f"/api/v1/syncs/{done}/retry-failed")
    assert clean.status_code == 409 and "no failed items" in clean.json()["detail"]
    retried = await api.post(f"/api/v1/syncs/{active}/retry-failed")  # a cancelled run's failures are retried
    assert retried.status_code == 202 and retried.json()["retry_of"] == str(active)


async def test_recent_items_are_the_newest_done_ones_failed_only_on_request(api, ctx):
    conn = await create_connection(api, "http://127.0.0.1:9", "http://127.0.0.1:9")
    run_id = uuid.uuid4()
    rows = [("S1", "synced", 1), ("F1", "failed", 2), ("P1", "pending", 9), ("S2", "synced", 3),
            ("K1", "skipped", 8), ("F2", "failed", 4)]
    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(insert(SyncRun).values(id=run_id, connection_id=uuid.UUID(conn["id"]), kind="manual",
                                                status="running"))
        for sku, status, minute in rows:  # times are given, not read from the clock
            await db.execute(text(
                "INSERT INTO sync_run_items (run_id, zoho_item_id, sku, action, status, reason, attempts, updated_at)"
                " VALUES (:run, :sku, :sku, 'update', :status, :reason, 1,"
                " timestamptz '2026-12-01 10:00Z' + make_interval(mins => :minute))"),
                {"run": run_id, "sku": sku, "status": status, "minute": minute,
                 "reason": "refused" if status == "failed" else None})
    async with ctx.sessionmaker() as db:
        assert [i.sku for i in await recent_items(db, run_id)] == ["F2", "S2", "F1", "S1"]
        assert [i.sku for i in await recent_items(db, run_id, limit=2)] == ["F2", "S2"]
        failed = await recent_items(db, run_id, failed_only=True)
    assert [(i.sku, i.error) for i in failed] == [("F2", "refused"), ("F1", "refused")]


async def test_retry_runs_are_listed_by_their_kind(api, ctx):
    conn = await create_connection(api, "http://127.0.0.1:9", "http://127.0.0.1:9")
    source, retry = uuid.uuid4(), uuid.uuid4()
    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(insert(SyncRun), [
            {"id": source, "connection_id": uuid.UUID(conn["id"]), "kind": "manual", "status": "completed"},
            {"id": retry, "connection_id": uuid.UUID(conn["id"]), "kind": "retry", "status": "completed",
             "retry_of": source}])
    listed = (await api.get(f"/api/v1/connections/{conn['id']}/syncs", params={"kind": "retry"})).json()["items"]
    assert [(r["id"], r["retry_of"]) for r in listed] == [(str(retry), str(source))]
