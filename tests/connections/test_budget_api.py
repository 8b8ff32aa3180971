"""GET /api/v1/connections/{id}/budget: Zoho calls made through the simulator counted in the
minute window and the day (per organization, the day turning at midnight UTC), the limits, a
429's block, and the store's error rate over the last hour. The clock is fixed (ctx.clock),
except where a real run writes its rows with the database's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from app.connections.adapters import shared_budget
from app.integrations.zoho.ratelimit import ZohoBudget
from app.logs.service import entry
from app.models import SyncLog
from tests.helpers import create_connection, start_run, wait_for_run

ORG = "10234695"  # the simulator's organization
LATE = datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC)  # half a minute before the budget day turns


def inventory_calls(zoho) -> int:
    """Calls to Zoho Inventory's API the simulator received (token requests are not)."""
    return sum(n for key, n in zoho.stats()["requests"].items() if "/oauth/" not in key)


async def budget_of(api, connection_id: str) -> dict:
    response = await api.get(f"/api/v1/connections/{connection_id}/budget")
    assert response.status_code == 200, response.text
    return response.json()


async def test_zoho_calls_through_the_simulator_are_counted_in_the_minute_and_the_day(api, ctx, zoho, zoho_server,
                                                                                     woo_server, monkeypatch):
    monkeypatch.setattr(ctx, "clock", lambda: LATE)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    before = await budget_of(api, conn["id"])
    assert before["as_of"] == "2026-03-01T23:59:30Z"
    assert before["zoho"]["organization_id"] == ORG and before["zoho"]["connections_sharing"] == 1
    assert before["zoho"]["minute"] == {"used": inventory_calls(zoho), "limit": 100_000, "window_seconds": 61}
    assert before["zoho"]["today"] == {"date": "2026-03-01", "used": inventory_calls(zoho), "limit": None,
                                       "zoho_stated_limit": None, "resets_at": "2026-03-02T00:00:00Z"}
    assert before["zoho"]["blocked_for_seconds"] == 0

    enabled = await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": True})
    assert enabled.status_code == 200, enabled.text
    calls = inventory_calls(zoho)
    assert calls >= 2  # the webhook and its workflow, at least
    after = await budget_of(api, conn["id"])
    assert after["zoho"]["minute"]["used"] == calls and after["zoho"]["today"]["used"] == calls

    # One budget per organization: a second connection on it reads the same figures.
    other = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    shared = await budget_of(api, other["id"])
    assert shared["zoho"]["connections_sharing"] == 2
    assert shared["zoho"]["today"]["used"] == inventory_calls(zoho)

    # Midnight UTC: the day starts again from 0; the minute window is a window, not a calendar.
    monkeypatch.setattr(ctx, "clock", lambda: LATE + timedelta(minutes=1))
    next_day = await budget_of(api, conn["id"])
    assert next_day["zoho"]["today"]["date"] == "2026-03-02" and next_day["zoho"]["today"]["used"] == 0
    assert next_day["zoho"]["minute"]["used"] == inventory_calls(zoho)
    await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": False})
    new_day_calls = inventory_calls(zoho) - calls
    assert new_day_calls >= 1
    assert (await budget_of(api, conn["id"]))["zoho"]["today"]["used"] == new_day_calls


async def test_the_configured_limit_the_limit_zoho_states_and_its_block(api, ctx, settings, zoho, zoho_server,
                                                                       woo_server, monkeypatch):
    monkeypatch.setattr(ctx, "clock", lambda: LATE)
    configured = ZohoBudget(redis_url=settings.redis_url, redis=ctx.redis, per_minute=100, daily_limit=500,
                            clock=lambda: ctx.clock())
    monkeypatch.setitem(ctx.shared, "zoho_budget", configured)
    assert shared_budget(ctx) is configured
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    today = (await budget_of(api, conn["id"]))["zoho"]["today"]
    assert today["limit"] == 500 and today["zoho_stated_limit"] is None

    zoho.update_knobs({"daily_limit": 1, "retry_after_seconds": 900})  # Zoho's own day is spent after one call
    refused = await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": True})
    assert refused.status_code >= 400 and set(refused.json()) >= {"error", "detail"}
    budget = await budget_of(api, conn["id"])
    assert budget["zoho"]["today"]["zoho_stated_limit"] == 1
    assert budget["zoho"]["minute"]["limit"] == 100
    assert 800 < budget["zoho"]["blocked_for_seconds"] <= 900


async def test_unknown_connection_is_a_404_with_the_error_shape(api):
    response = await api.get("/api/v1/connections/00000000-0000-0000-0000-000000000000/budget")
    assert response.status_code == 404 and set(response.json()) == {"error", "detail"}
    assert (await api.get("/api/v1/connections/not-a-uuid/budget")).status_code == 422


async def write_logs(ctx, rows: list[tuple[str, dict]], at: datetime) -> None:
    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(insert(SyncLog), [{**entry(level="info", message="m", connection_id=cid, **fields),
                                           "created_at": at} for cid, fields in rows])


async def test_the_store_error_rate_is_failed_product_writes_of_the_last_hour(api, ctx, zoho_server, woo_server,
                                                                              monkeypatch):
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(ctx, "clock", lambda: now)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    other = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    assert (await budget_of(api, conn["id"]))["store"] == {
        "since": "2026-03-01T11:00:00Z", "window_minutes": 60, "writes": 0, "failed": 0, "error_rate": None}

    write = {"action": "update", "status": "synced"}
    fail = {"action": "create", "status": "failed"}
    await write_logs(ctx, [(conn["id"], write)] * 3 + [(conn["id"], fail)], now - timedelta(minutes=59))
    await write_logs(ctx, [(conn["id"], fail)] * 5, now - timedelta(minutes=61))  # older than the hour
    await write_logs(ctx, [(conn["id"], fail)], now + timedelta(seconds=1))  # after `now`
    await write_logs(ctx, [(other["id"], fail)] * 2, now - timedelta(minutes=5))  # another connection
    not_writes = [{"action": "images", "status": "failed"}, {"action": "run", "status": "failed"},
                  {"action": "skip", "status": "skipped"}]
    await write_logs(ctx, [(conn["id"], f) for f in not_writes], now - timedelta(minutes=5))
    store = (await budget_of(api, conn["id"]))["store"]
    assert (store["writes"], store["failed"], store["error_rate"]) == (4, 1, 0.25)
    assert (await budget_of(api, other["id"]))["store"]["error_rate"] == 1.0


async def test_a_real_run_s_store_refusals_move_the_error_rate(api, zoho, store, zoho_server, woo_server, worker):
    zoho.generate_catalogue(4, seed=3)
    store.knobs.fail_next = [{"status": 400, "path_contains": "batch",
                              "body": {"code": "rest_invalid_param", "message": "refused for the test"}}]
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, batch_size=2,
                                   store_concurrency=1)
    worker()
    run = await wait_for_run(api, (await start_run(api, conn["id"]))["id"])
    store_errors = (await budget_of(api, conn["id"]))["store"]
    assert run["failed"] > 0 and run["synced"] > 0
    assert store_errors["writes"] == run["failed"] + run["synced"]
    assert store_errors["failed"] == run["failed"]
    assert store_errors["error_rate"] == round(run["failed"] / store_errors["writes"], 4)
