"""The run-state module's statements against its own table of moves: every control, from every
state, with and without a live driver, either refuses or lands on a state the table allows."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import insert, select, text

from app.models import ItemStatus, RunStatus, SyncRun, SyncRunItem
from app.syncs import state
from tests.helpers import create_connection

LEASE = 3.0


async def make_run(ctx, connection_id: str, status: str, *, live_driver: bool) -> uuid.UUID:
    async with ctx.sessionmaker() as session, session.begin():
        run = SyncRun(connection_id=uuid.UUID(connection_id), status=status, started_at=None,
                      driver_token="driver" if live_driver else None)
        session.add(run)
        await session.flush()
        if live_driver:
            await session.execute(text("UPDATE sync_runs SET heartbeat_at = now() WHERE id = :id"), {"id": run.id})
        await session.execute(insert(SyncRunItem), [
            {"run_id": run.id, "zoho_item_id": "in-flight", "action": "create", "status": "pending",
             "claim_token": "driver", "claimed_at": None},
            {"run_id": run.id, "zoho_item_id": "waiting", "action": "create", "status": "pending"},
        ])
        return run.id


async def control(ctx, run_id: uuid.UUID, verb: str) -> bool:
    async with ctx.sessionmaker() as session, session.begin():
        run = await session.get(SyncRun, run_id, with_for_update=True)
        if verb == "pause":
            return await state.request_pause(session, run, lease_seconds=LEASE)
        if verb == "cancel":
            return await state.request_cancel(session, run, lease_seconds=LEASE)
        return await state.request_resume(session, run) is not None


async def read(ctx, run_id: uuid.UUID) -> tuple[str, dict[str, str]]:
    async with ctx.sessionmaker() as session:
        run = await session.get(SyncRun, run_id)
        items = dict((await session.execute(select(SyncRunItem.zoho_item_id, SyncRunItem.status)
                                            .where(SyncRunItem.run_id == run_id))).all())
        return run.status, items


@pytest.mark.parametrize("verb", ["pause", "cancel", "resume"])
@pytest.mark.parametrize("live_driver", [True, False])
@pytest.mark.parametrize("start", list(RunStatus))
async def test_every_control_from_every_state_is_a_move_the_table_allows(api, ctx, zoho_server, woo_server, start,
                                                                          live_driver, verb):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    run_id = await make_run(ctx, conn["id"], start, live_driver=live_driver)
    accepted = await control(ctx, run_id, verb)
    status, items = await read(ctx, run_id)
    if not accepted:
        assert status == start
        return
    assert status in state.TRANSITIONS[start], f"{start} → {status} on {verb}"
    if status in (RunStatus.PAUSING, RunStatus.CANCELLING):
        assert live_driver  # winding down only while someone holds a batch
    if status == RunStatus.CANCELLING:  # the batch in flight records what happened; the rest stops now
        assert items == {"in-flight": ItemStatus.PENDING, "waiting": ItemStatus.CANCELLED}
    if status == RunStatus.CANCELLED:
        assert set(items.values()) == {ItemStatus.CANCELLED}


def test_terminal_states_have_no_way_out():
    for status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED):
        assert state.TRANSITIONS[status] == frozenset()
    assert set(state.TRANSITIONS) == set(RunStatus)
