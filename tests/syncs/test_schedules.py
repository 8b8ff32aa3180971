"""Schedules: a connection's cron starts full runs of kind "scheduled", once per due time, and
skips a due time that meets an active run. The clock is injected: `start_due_runs` takes `now`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from structlog.testing import CapturingLogger

from app.connections.schemas import Schedule
from app.models import RunStatus, SyncLog, SyncRun
from app.syncs import schedules
from app.syncs.schedules import GRACE, latest_due, start_due_runs
from tests.helpers import ROOT, create_connection, store_by_sku, wait_for_run

BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY = {"cron": "0 3 * * 1", "mode": "verify", "timezone": "Europe/Berlin"}
# Monday 4 January 2027, 03:00 in Berlin (CET, +01:00) = 02:00 UTC.
MONDAY_3AM = datetime(2027, 1, 4, 3, 0, tzinfo=BERLIN)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


# ── due times (no database) ──────────────────────────────────────────────────────────────────

def test_a_due_time_is_due_from_its_minute_until_the_grace_runs_out():
    schedule = Schedule.model_validate(WEEKLY)
    assert latest_due(schedule, MONDAY_3AM - timedelta(seconds=1)) is None  # the week before is long gone
    assert latest_due(schedule, MONDAY_3AM) == datetime(2027, 1, 4, 2, 0, tzinfo=UTC)
    assert latest_due(schedule, MONDAY_3AM + timedelta(seconds=59, microseconds=5)) == datetime(2027, 1, 4, 2, 0,
                                                                                                tzinfo=UTC)
    assert latest_due(schedule, MONDAY_3AM + GRACE) == datetime(2027, 1, 4, 2, 0, tzinfo=UTC)
    assert latest_due(schedule, MONDAY_3AM + GRACE + timedelta(minutes=1)) is None


def test_the_time_zone_decides_the_instant():
    utc = Schedule.model_validate(WEEKLY | {"timezone": "UTC"})
    tokyo = Schedule.model_validate(WEEKLY | {"timezone": "Asia/Tokyo"})
    assert latest_due(utc, datetime(2027, 1, 4, 3, 0, tzinfo=UTC)) == datetime(2027, 1, 4, 3, 0, tzinfo=UTC)
    assert latest_due(tokyo, datetime(2027, 1, 3, 18, 0, tzinfo=UTC)) == datetime(2027, 1, 3, 18, 0, tzinfo=UTC)
    # Summer: Berlin is +02:00, so 03:00 there is 01:00 UTC.
    assert latest_due(Schedule.model_validate(WEEKLY), berlin(2027, 7, 5, 3, 0)) == datetime(2027, 7, 5, 1, 0,
                                                                                             tzinfo=UTC)


def test_a_time_the_spring_forward_skips_runs_once_right_after_the_gap():
    """28 March 2027: Berlin's clocks jump from 02:00 to 03:00; 02:30 does not exist that day."""
    daily = Schedule.model_validate({"cron": "30 2 * * *", "timezone": "Europe/Berlin"})
    assert latest_due(daily, berlin(2027, 3, 27, 2, 30)) == datetime(2027, 3, 27, 1, 30, tzinfo=UTC)  # +01:00
    gap_day = latest_due(daily, berlin(2027, 3, 28, 3, 0))
    assert gap_day == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 03:00 +02:00, the first minute after the gap
    assert latest_due(daily, berlin(2027, 3, 28, 3, 59)) == gap_day  # once, not again at 03:30
    assert latest_due(daily, berlin(2027, 3, 29, 2, 30)) == datetime(2027, 3, 29, 0, 30, tzinfo=UTC)  # +02:00


def test_a_time_the_fall_back_repeats_runs_once():
    """31 October 2027: Berlin's clocks go back from 03:00 to 02:00; 02:30 happens twice."""
    daily = Schedule.model_validate({"cron": "30 2 * * *", "timezone": "Europe/Berlin"})
    first = datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 02:30 +02:00
    assert latest_due(daily, first) == first
    # The second 02:30 (+01:00, 01:30 UTC) is no new due time: still the first one, already claimed.
    assert latest_due(daily, datetime(2027, 10, 31, 1, 30, tzinfo=UTC)) == first
    assert latest_due(daily, datetime(2027, 11, 1, 1, 30, tzinfo=UTC)) == datetime(2027, 11, 1, 1, 30, tzinfo=UTC)


# ── the setting (API) ────────────────────────────────────────────────────────────────────────

async def test_a_schedule_is_saved_read_back_and_cleared(api, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    assert conn["settings"]["schedule"] is None
    url = f"/api/v1/connections/{conn['id']}"
    response = await api.patch(url, json={"settings": {"schedule": {"cron": " 0  3 * * 1-5", "timezone": "Asia/Tokyo"}}})
    assert response.status_code == 200, response.text
    assert response.json()["settings"]["schedule"] == {"cron": "0 3 * * 1-5", "mode": "standard",
                                                       "timezone": "Asia/Tokyo"}
    response = await api.patch(url, json={"settings": {"schedule": None}})
    assert response.status_code == 200 and response.json()["settings"]["schedule"] is None


@pytest.mark.parametrize(("schedule", "field"), [
    ({"cron": "61 3 * * 1"}, "cron"),
    ({"cron": "0 3 * *"}, "cron"),
    ({"cron": "0 0 3 * * 1"}, "cron"),  # a seconds field
    ({"cron": "@daily x y z w"}, "cron"),
    ({"cron": "0 0 30 2 *"}, "cron"),  # 30 February never comes
    ({"cron": "0 3 * * 1", "timezone": "Mars/Olympus"}, "timezone"),
    ({"cron": "0 3 * * 1", "timezone": "../../etc/passwd"}, "timezone"),
    ({"cron": "0 3 * * 1", "mode": "fast"}, "mode"),
    ({"cron": "0 3 * * 1", "every": "day"}, "every"),
    ({"mode": "verify"}, "cron"),
])
async def test_a_bad_schedule_is_refused_naming_the_field(api, zoho_server, woo_server, schedule, field):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    response = await api.patch(f"/api/v1/connections/{conn['id']}", json={"settings": {"schedule": schedule}})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationError" and body["fields"] == [f"settings.schedule.{field}"], body
    assert (await api.get(f"/api/v1/connections/{conn['id']}")).json()["settings"]["schedule"] is None


# ── the scheduler (database, Redis) ──────────────────────────────────────────────────────────

async def scheduled(api, zoho_server, woo_server, schedule: dict | None = WEEKLY) -> dict:
    return await create_connection(api, zoho_server.base_url, woo_server.base_url, schedule=schedule)


async def runs_of(ctx, connection_id: str) -> list[SyncRun]:
    async with ctx.sessionmaker() as session:
        return list((await session.scalars(select(SyncRun).where(SyncRun.connection_id == uuid.UUID(connection_id))
                                           .order_by(SyncRun.created_at))).all())


async def test_a_due_schedule_starts_one_scheduled_run_with_its_mode(api, ctx, zoho_server, woo_server):
    conn = await scheduled(api, zoho_server, woo_server)
    assert await start_due_runs(ctx, MONDAY_3AM - timedelta(minutes=1)) == []
    assert await runs_of(ctx, conn["id"]) == []

    claims = await start_due_runs(ctx, MONDAY_3AM + timedelta(seconds=1))
    due = datetime(2027, 1, 4, 2, 0, tzinfo=UTC)
    assert [(str(c.connection_id), c.due, c.started) for c in claims] == [(conn["id"], due, True)]
    [run] = await runs_of(ctx, conn["id"])
    assert (run.id, run.kind, run.mode, run.status, run.scheduled_for) == (claims[0].run_id, "scheduled", "verify",
                                                                           "queued", due)
    assert await ctx.redis.exists(f"arq:job:plan:{run.id}")  # its planner is queued, as a manual run's is

    # Every later tick of the hour sees the same due time, already answered.
    for minute in (1, 2, 30, 60):
        assert await start_due_runs(ctx, MONDAY_3AM + timedelta(minutes=minute)) == []
    assert len(await runs_of(ctx, conn["id"])) == 1

    listed = (await api.get(f"/api/v1/connections/{conn['id']}/syncs", params={"kind": "scheduled"})).json()
    assert [(r["id"], r["kind"], r["scheduled_for"]) for r in listed["items"]] == [
        (str(run.id), "scheduled", "2027-01-04T02:00:00Z")]
    assert (await api.get(f"/api/v1/connections/{conn['id']}/syncs", params={"kind": "manual"})).json()["total"] == 0
    # A manual start meets the active scheduled run: one full run at a time.
    response = await api.post(f"/api/v1/connections/{conn['id']}/syncs")
    assert response.status_code == 409 and response.json()["error"] == "Conflict", response.text


async def test_no_schedule_or_a_null_one_starts_nothing(api, ctx, zoho_server, woo_server):
    await scheduled(api, zoho_server, woo_server, schedule=None)
    await create_connection(api, zoho_server.base_url, woo_server.base_url)
    cleared = await scheduled(api, zoho_server, woo_server)
    response = await api.patch(f"/api/v1/connections/{cleared['id']}", json={"settings": {"schedule": None}})
    assert response.status_code == 200
    every_minute = await scheduled(api, zoho_server, woo_server, {"cron": "* * * * *"})
    claims = await start_due_runs(ctx, MONDAY_3AM)
    assert [str(c.connection_id) for c in claims] == [every_minute["id"]]  # only the live schedule fires
    async with ctx.sessionmaker() as session:
        assert len((await session.scalars(select(SyncRun))).all()) == 1


async def test_a_due_time_during_an_active_run_is_skipped_once_with_a_log_line(api, ctx, zoho_server, woo_server,
                                                                               monkeypatch):
    conn = await scheduled(api, zoho_server, woo_server)
    manual = (await api.post(f"/api/v1/connections/{conn['id']}/syncs")).json()  # queued: no worker here
    logger = CapturingLogger()
    monkeypatch.setattr(schedules, "log", logger)
    [claim] = await start_due_runs(ctx, MONDAY_3AM)
    assert not claim.started
    assert [(c.method_name, c.args, c.kwargs) for c in logger.calls] == [("warning", ("schedule.skipped",), {
        "connection_id": conn["id"], "run_id": str(claim.run_id), "due": "2027-01-04T02:00:00+00:00",
        "active_run_id": manual["id"]})]

    runs = {str(r.id): r for r in await runs_of(ctx, conn["id"])}
    skipped = runs[str(claim.run_id)]
    assert (skipped.kind, skipped.status, skipped.scheduled_for) == ("scheduled", "cancelled", claim.due)
    assert skipped.reason == (f"skipped: due 2027-01-04 03:00 (Europe/Berlin) while manual sync {manual['id']} "
                              "was queued")
    assert runs[manual["id"]].status == "queued"  # the active run is left alone
    async with ctx.sessionmaker() as session:
        [entry] = (await session.scalars(select(SyncLog).where(SyncLog.action == "schedule"))).all()
    assert (entry.level, entry.status, entry.run_id) == ("warning", "skipped", claim.run_id)
    assert manual["id"] in entry.message

    # The active run ends within the hour: the skipped due time is not tried again.
    async with ctx.sessionmaker() as session, session.begin():
        await session.execute(update(SyncRun).where(SyncRun.id == uuid.UUID(manual["id"]))
                              .values(status=RunStatus.COMPLETED))
    assert await start_due_runs(ctx, MONDAY_3AM + timedelta(minutes=5)) == []
    # The next due time starts its run.
    [next_week] = await start_due_runs(ctx, MONDAY_3AM + timedelta(days=7))
    assert next_week.started and len(await runs_of(ctx, conn["id"])) == 3


async def test_missed_due_times_start_at_most_one_late_run(api, ctx, zoho_server, woo_server):
    conn = await scheduled(api, zoho_server, woo_server, {"cron": "*/10 * * * *"})
    # Workers back at 03:35 after being down since 02:00: one run, for 03:30, not one per missed time.
    [claim] = await start_due_runs(ctx, berlin(2027, 1, 4, 3, 35))
    assert claim.due == datetime(2027, 1, 4, 2, 30, tzinfo=UTC)
    assert len(await runs_of(ctx, conn["id"])) == 1
    # A weekly due time more than an hour back is dropped.
    weekly = await scheduled(api, zoho_server, woo_server)
    assert [c for c in await start_due_runs(ctx, MONDAY_3AM + timedelta(hours=1, minutes=1))
            if str(c.connection_id) == weekly["id"]] == []


async def test_two_schedulers_at_once_start_each_due_run_once(api, ctx, zoho_server, woo_server):
    """Two workers' ticks at the same moment, each with its own sessions: the unique index on
    (connection, scheduled_for) lets one insert win per connection."""
    connections = [await scheduled(api, zoho_server, woo_server) for _ in range(6)]
    busy = connections[0]
    manual = (await api.post(f"/api/v1/connections/{busy['id']}/syncs")).json()
    results = await asyncio.gather(*(start_due_runs(ctx, MONDAY_3AM) for _ in range(4)))
    claims = [claim for result in results for claim in result]
    assert sorted(str(c.connection_id) for c in claims) == sorted(c["id"] for c in connections)
    assert [str(c.connection_id) for c in claims if not c.started] == [busy["id"]]  # skipped once, by one of them
    for conn in connections:
        runs = [r for r in await runs_of(ctx, conn["id"]) if r.kind == "scheduled"]
        assert len(runs) == 1, conn
    assert manual["id"] in [str(r.id) for r in await runs_of(ctx, busy["id"])]


TICK = """
import asyncio, json, sys
from datetime import datetime
from app.config import get_settings
from app.core.context import open_context
from app.syncs.schedules import start_due_runs

async def main():
    ctx = await open_context(get_settings())
    try:
        claims = await start_due_runs(ctx, datetime.fromisoformat(sys.argv[1]))
    finally:
        await ctx.close()
    print("CLAIMS", json.dumps([str(c.run_id) for c in claims]))

asyncio.run(main())
"""


async def test_two_worker_processes_start_each_due_run_once(api, ctx, zoho_server, woo_server):
    """The same tick in two processes, each with its own database connections."""
    connections = [await scheduled(api, zoho_server, woo_server) for _ in range(20)]
    command = [sys.executable, "-c", TICK, MONDAY_3AM.isoformat()]
    processes = [await asyncio.create_subprocess_exec(*command, cwd=ROOT, stdout=subprocess.PIPE)
                 for _ in range(2)]
    outputs = [await process.communicate() for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    lines = [line for stdout, _ in outputs for line in stdout.decode().splitlines() if line.startswith("CLAIMS ")]
    assert len(lines) == 2, outputs
    started = [run_id for line in lines for run_id in json.loads(line.removeprefix("CLAIMS "))]
    assert len(started) == len(set(started)) == len(connections)
    async with ctx.sessionmaker() as session:
        runs = (await session.scalars(select(SyncRun))).all()
    assert sorted(str(r.id) for r in runs) == sorted(started)


async def test_a_scheduled_run_is_driven_like_a_manual_one(api, ctx, zoho, store, zoho_server, woo_server, worker):
    zoho.generate_catalogue(30, seed=11)
    conn = await scheduled(api, zoho_server, woo_server, WEEKLY | {"mode": "standard"})
    worker()
    [claim] = await start_due_runs(ctx, MONDAY_3AM)
    run = await wait_for_run(api, str(claim.run_id))
    assert (run["kind"], run["status"], run["failed"]) == ("scheduled", "completed", 0), run
    assert run["synced"] > 0 and len(store_by_sku(woo_server.base_url)) == run["synced"]
    assert conn["id"] == run["connection_id"]
