"""A webhook pass whose connection points at an address the deployment may not call fails its
events with the reason (a verdict), instead of backing off and retrying for ever."""

from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy import select

from app.models import WebhookEvent
from app.webhooks.passes import process_events
from tests.webhooks.test_webhooks import deliver, enabled_connection


async def test_events_for_a_forbidden_target_fail_with_the_reason(api, ctx, zoho, store, zoho_server, woo_server):
    conn = await enabled_connection(api, zoho, zoho_server, woo_server, lambda: None, sync_first=False, count=3)
    item = zoho.all_items()[0]
    assert (await deliver(api, ctx, conn["id"], {"item_id": item["item_id"]})).status_code == 202
    zoho.reset_stats()
    production = dataclasses.replace(ctx, settings=ctx.settings.model_copy(update={"environment": "production"}))

    assert await process_events(production, uuid.UUID(conn["id"])) is None  # no back-off, nothing left queued
    async with ctx.sessionmaker() as session:
        event = await session.scalar(select(WebhookEvent))
    assert event.outcome == "failed" and "forbidden address" in event.detail
    assert zoho.stats()["requests"] == {} and store.stats()["requests"] == {}
