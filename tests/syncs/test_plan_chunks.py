"""A manual run's plan made a chunk at a time, over a catalogue on many pages, is the plan made
with the whole catalogue in memory: the same rows, in the same order, with the same content,
and the same log lines."""

from __future__ import annotations

import secrets
import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select, text

from app.connections.adapters import adapters_for
from app.core.context import AppContext
from app.db.session import transaction
from app.integrations.zoho import client as zoho_client
from app.models import Connection, RunStatus, SyncLog, SyncRun, SyncRunItem
from app.syncs import planner, state
from tests.catalogue.test_group_changes import variant
from tests.catalogue.test_variable_and_images import sync
from tests.helpers import create_connection

pytestmark = pytest.mark.timeout(240)

ROW_FIELDS = ("zoho_item_id", "kind", "group_id", "parent_store_id", "sku", "name", "action", "status", "reason", "payload",
              "content_hash", "store_id", "attempts", "image_state", "claim_token")


async def new_run(ctx: AppContext, connection_id: uuid.UUID) -> tuple[SyncRun, str]:
    """A queued manual run whose lease this test holds, as the plan job would."""
    token = secrets.token_hex(8)
    async with ctx.sessionmaker() as session:
        run = SyncRun(connection_id=connection_id, kind="manual", status=RunStatus.QUEUED, driver_token=token)
        session.add(run)
        await session.commit()
        return run, token


async def finish(ctx: AppContext, run: SyncRun) -> None:
    async with ctx.sessionmaker() as session:  # one active manual run per connection
        await session.execute(text("UPDATE sync_runs SET status = 'completed' WHERE id = :id"), {"id": run.id})
        await session.commit()


async def saved_rows(ctx: AppContext, run: SyncRun) -> list[dict[str, Any]]:
    async with ctx.sessionmaker() as session:
        items = await session.scalars(select(SyncRunItem).where(SyncRunItem.run_id == run.id).order_by(SyncRunItem.id))
        return [{name: getattr(item, name) for name in ROW_FIELDS} for item in items]


async def saved_logs(ctx: AppContext, run: SyncRun) -> list[tuple[Any, ...]]:
    async with ctx.sessionmaker() as session:
        logs = await session.scalars(select(SyncLog).where(SyncLog.run_id == run.id).order_by(SyncLog.id))
        return [(log.level, log.action, log.status, log.sku, log.zoho_item_id, log.message, log.details or None)
                for log in logs]


async def plan_in_memory(ctx: AppContext, connection: Connection) -> SyncRun:
    run, token = await new_run(ctx, connection.id)
    async with adapters_for(connection, ctx) as adapters:
        store = await adapters.store.get_store_settings()
        catalogue = await planner.fetch_catalogue(adapters.catalog)
        plan = await planner.plan_items(ctx, connection, catalogue, catalog=adapters.catalog, store=adapters.store,
                                        store_settings=store)
    async with transaction(ctx.sessionmaker) as session:  # the plan saved whole, as webhook runs save theirs
        assert await state.start_planned(session, run_id=run.id, token=token) == RunStatus.RUNNING
        await planner.insert_plan(session, run, plan, status=RunStatus.RUNNING)
    await finish(ctx, run)
    return run


async def plan_in_chunks(ctx: AppContext, connection: Connection) -> SyncRun:
    run, token = await new_run(ctx, connection.id)
    assert await planner.plan_run_items(ctx, run=run, connection=connection, token=token) == RunStatus.RUNNING
    await finish(ctx, run)
    return run


def simple(item_id: str, sku: str, rate: float = 4) -> dict:
    return {"item_id": item_id, "name": f"Item {item_id}", "sku": sku, "rate": rate, "status": "active"}


async def test_plan_in_chunks_equals_the_plan_in_memory(ctx, api, zoho, store, zoho_server, woo_server, worker,
                                                       monkeypatch):
    zoho.generate_catalogue(70, seed=11, groups=6)
    # Group Q's variants are created apart, so pages and chunks fall between them.
    zoho.upsert_items([variant("980001", "Q-S-RED", "Q", ("Size", "S"), ("Colour", "Red")),
                       variant("980002", "Q-M-RED", "Q", ("Size", "M"), ("Colour", "Red"))])
    zoho.upsert_items([simple(f"98010{n}", f"FILL-{n}") for n in range(8)])
    zoho.upsert_items([variant("980003", "Q-S-BLUE", "Q", ("Size", "S"), ("Colour", "Blue")),
                       variant("980004", "Q-M-BLUE", "Q", ("Size", "M"), ("Colour", "Blue"))])
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    await sync(api, conn["id"])  # links, variable products and variations in the store

    groups = Counter(i["group_id"] for i in zoho.all_items() if i.get("group_id", "").startswith("48"))
    kept, dropped = groups.most_common()[0][0], groups.most_common()[-1][0]
    dropped_variants = [i["item_id"] for i in zoho.all_items() if i.get("group_id") == dropped]
    for item_id in dropped_variants:  # the whole group is gone: a head is made for its variations
        zoho.delete_item(item_id)
    zoho.delete_item("980004")  # Q's options stay the same: its head is unchanged, then pending
    first = min((i for i in zoho.all_items() if not i.get("group_id")), key=lambda i: i["created_time"])
    late = next(i for i in zoho.all_items() if i.get("group_id") == kept)
    latecomer = {k: v for k, v in late.items() if k.startswith("attribute_name") or k in ("group_id", "group_name")}
    latecomer |= {f"attribute_option_name{k[-1]}": f"Late {k[-1]}" for k in latecomer if k.startswith("attribute_name")}
    zoho.upsert_items([  # created now: on the last page, far from what they collide with
        simple("990001", first["sku"].lower()),
        latecomer | {"item_id": "990002", "name": "Latecomer", "sku": "LATE-1", "rate": 5, "status": "active"},
        variant("990003", "LATE-2", "N", ("Size", "S")),
        variant("990004", "LATE-2", "N", ("Size", "M")),  # a SKU twice within a new group
        simple("990005", "NEW-1"),
    ])
    changed = next(i for i in zoho.all_items() if not i.get("group_id") and i["item_id"] != first["item_id"])
    zoho.patch_item(changed["item_id"], {"rate": 123.45})

    async with ctx.sessionmaker() as session:
        connection = await session.get(Connection, uuid.UUID(conn["id"]))
    monkeypatch.setattr(zoho_client, "PER_PAGE", 7)
    monkeypatch.setattr(planner, "PLAN_CHUNK", 5)
    zoho.reset_stats()
    expected = await plan_in_memory(ctx, connection)
    pages = zoho.stats()["requests"]["GET /items"]
    zoho.reset_stats()
    chunked = await plan_in_chunks(ctx, connection)

    assert pages == -(-len(zoho.all_items()) // 7) and pages > 10
    assert zoho.stats()["requests"]["GET /items"] == pages  # each page read once
    rows = await saved_rows(ctx, chunked)
    assert rows == await saved_rows(ctx, expected)
    assert await saved_logs(ctx, chunked) == await saved_logs(ctx, expected)

    # The plan is about what the test meant it to be about.
    by_id = {row["zoho_item_id"]: row for row in rows if row["kind"] != "variable"}
    heads = {row["group_id"]: row for row in rows if row["kind"] == "variable"}
    assert by_id[first["item_id"]]["reason"] == f"SKU {first['sku']!r} is on 2 Zoho items"
    assert by_id["990001"]["reason"] == f"SKU {first['sku'].lower()!r} is on 2 Zoho items"
    assert "is on 2 Zoho items" in by_id["990003"]["reason"] and "is on 2 Zoho items" in by_id["990004"]["reason"]
    assert (by_id["990002"]["group_id"], by_id["990002"]["action"]) == (kept, "create")
    assert [by_id[f"98000{n}"]["action"] for n in range(1, 5)] == ["unchanged", "unchanged", "unchanged", "update"]
    assert by_id["980004"]["reason"] == "no longer in Zoho"
    assert (heads["GQ"]["action"], heads["GQ"]["status"], heads["GQ"]["zoho_item_id"]) == ("unchanged", "pending", "GQ")
    assert heads[dropped]["action"] == "unchanged"
    assert all(by_id[v]["group_id"] == dropped and by_id[v]["parent_store_id"] is None for v in dropped_variants)
    assert all(by_id[v]["reason"] == "no longer in Zoho" for v in dropped_variants)
    assert by_id[changed["item_id"]]["action"] == "update" and by_id["990005"]["action"] == "create"
    assert Counter(row["action"] for row in rows)["unchanged"] > 40
    assert len({(row["kind"], row["zoho_item_id"]) for row in rows}) == len(rows) > 80
    assert all(row["payload"] is None or row["payload"]["v"] == 1 for row in rows)


async def test_plan_in_chunks_for_a_run_cancelled_meanwhile_or_taken_over(ctx, api, zoho, store, zoho_server,
                                                                          woo_server, monkeypatch):
    zoho.generate_catalogue(30, seed=4, groups=3)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    async with ctx.sessionmaker() as session:
        connection = await session.get(Connection, uuid.UUID(conn["id"]))
    monkeypatch.setattr(planner, "PLAN_CHUNK", 4)

    run, token = await new_run(ctx, connection.id)
    assert await planner.plan_run_items(ctx, run=run, connection=connection, token="another driver's") is None
    assert await saved_rows(ctx, run) == []  # the lease decided: nothing was saved

    async with ctx.sessionmaker() as session:
        await session.execute(text("UPDATE sync_runs SET status = 'cancelled' WHERE id = :id"), {"id": run.id})
        await session.commit()
    assert await planner.plan_run_items(ctx, run=run, connection=connection, token=token) == RunStatus.CANCELLED
    statuses = Counter(row["status"] for row in await saved_rows(ctx, run))
    assert statuses["cancelled"] > 20 and statuses["pending"] == 0  # nothing will be written
    async with ctx.engine.connect() as conn_:  # the staging tables went with the plan
        assert await conn_.scalar(text("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'plan\\_%'")) == 0
