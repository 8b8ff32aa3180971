"""A refresh token that Zoho refuses puts the connection in `needs_reconnect`: the run in
progress fails with the reason, and nothing starts again (409 for API callers, a recorded skip
for schedules and webhook passes) until Zoho is connected again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from app.models import SyncLog, SyncRun, WebhookEvent
from app.syncs.runner import plan_run
from app.syncs.schedules import start_due_runs
from app.webhooks.passes import process_events
from simulators.zoho import DEMO_CREDENTIALS as DEMO
from tests.helpers import create_connection, start_run

DUE = datetime(2027, 1, 4, 3, 0, tzinfo=UTC)


async def refused_connection(api, zoho, zoho_server, woo_server) -> dict:
    """A connection whose refresh token Zoho no longer honours (revoked behind our back, or the
    21st sign-in pushed it out)."""
    zoho.generate_catalogue(5)
    connection = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    assert zoho.revoke_token(DEMO.refresh_token)
    return connection


async def test_a_refused_refresh_token_fails_the_run_and_blocks_the_next(api, ctx, zoho, store, zoho_server,
                                                                         woo_server):
    connection = await refused_connection(api, zoho, zoho_server, woo_server)
    run = await start_run(api, connection["id"])

    await plan_run(ctx, uuid.UUID(run["id"]))  # the worker's job, with a real context

    failed = (await api.get(f"/api/v1/syncs/{run['id']}")).json()
    assert failed["status"] == "failed" and failed["reason"].startswith("Zoho refused the refresh token")
    assert "refused the credentials" not in failed["reason"]  # who refused is said once
    read = (await api.get(f"/api/v1/connections/{connection['id']}")).json()
    assert read["needs_reconnect"] is True and read["zoho"]["needs_reconnect"] is True
    assert "invalid_code" in read["zoho"]["reconnect_reason"] and read["zoho"]["reconnect_since"]
    assert read["zoho"]["linked"] is True  # still linked: the grant is there, Zoho refuses it

    again = await api.post(f"/api/v1/connections/{connection['id']}/syncs")
    assert again.status_code == 409 and again.json()["error"] == "Conflict"
    assert "Zoho needs reconnecting" in again.json()["detail"] and "Reconnect Zoho" in again.json()["detail"]
    preview = await api.post(f"/api/v1/connections/{connection['id']}/preview")
    assert preview.status_code == 409 and "Zoho needs reconnecting" in preview.json()["detail"]
    async with ctx.sessionmaker() as session:
        logged = (await session.scalars(select(SyncLog).where(SyncLog.status == "needs_reconnect"))).all()
    assert len(logged) == 1 and logged[0].level == "error"


async def test_schedules_and_webhook_passes_skip_with_the_reason(api, ctx, zoho, store, zoho_server, woo_server):
    connection = await refused_connection(api, zoho, zoho_server, woo_server)
    connection_id = uuid.UUID(connection["id"])
    patched = await api.patch(f"/api/v1/connections/{connection['id']}",
                              json={"settings": {"schedule": {"cron": "0 3 * * *"}}})
    assert patched.status_code == 200, patched.text
    await plan_run(ctx, uuid.UUID((await start_run(api, connection["id"]))["id"]))  # marks the connection
    zoho.reset_stats()

    claims = await start_due_runs(ctx, DUE)
    assert [(c.connection_id, c.started) for c in claims] == [(connection_id, False)]
    async with ctx.sessionmaker() as session:
        skipped = await session.get(SyncRun, claims[0].run_id)
    assert skipped.status == "cancelled" and "Zoho needs reconnecting" in skipped.reason

    async with ctx.sessionmaker() as session, session.begin():
        session.add(WebhookEvent(connection_id=connection_id, zoho_item_id="1", sku="A", outcome="queued"))
    assert await process_events(ctx, connection_id) is None  # settled, not retried for ever
    async with ctx.sessionmaker() as session:
        event = await session.scalar(select(WebhookEvent))
    assert event.outcome == "failed" and "Zoho needs reconnecting" in event.detail
    assert zoho.stats()["requests"] == {}  # nothing was asked of Zoho


async def test_a_refresh_token_typed_in_again_clears_needs_reconnect(api, ctx, zoho, store, zoho_server, woo_server):
    connection = await refused_connection(api, zoho, zoho_server, woo_server)
    await plan_run(ctx, uuid.UUID((await start_run(api, connection["id"]))["id"]))
    assert (await api.get(f"/api/v1/connections/{connection['id']}")).json()["needs_reconnect"] is True
    zoho.add_client(DEMO.client_id, DEMO.client_secret, "1000.pasted-anew")
    patched = await api.patch(f"/api/v1/connections/{connection['id']}",
                              json={"zoho": {"refresh_token": "1000.pasted-anew"}})
    assert patched.status_code == 200 and patched.json()["needs_reconnect"] is False
    assert (await api.post(f"/api/v1/connections/{connection['id']}/syncs")).status_code == 202
