"""The console's webhook event log (the retention period, newest first, paged, outcome and SKU
filters with errors at the field) and API budget page (meters and the store's error rate),
in-process, with a fixed clock (ctx.clock)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from app.logs.service import entry
from app.models import SyncLog, WebhookEvent
from app.ui.webhook_events import EVENT_PAGE_SIZE
from tests.helpers import create_connection
from tests.ui.console import sign_in

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def rows_of(page: str) -> int:
    return page.count("<tr>") - 1  # less the header row


async def add_events(ctx, connection_id, count: int, *, start: datetime, **fields) -> None:
    rows = [{"connection_id": connection_id, "received_at": start + timedelta(minutes=i),
             "zoho_item_id": fields.get("zoho_item_id", f"46000{i:05d}"), "sku": fields.get("sku", f"SKU-{i:03d}"),
             "outcome": fields.get("outcome", "synced"), "detail": fields.get("detail")} for i in range(count)]
    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(insert(WebhookEvent), rows)


async def test_the_webhook_event_log_pages_filters_and_keeps_to_the_retention_period(console, api, ctx,
                                                                                     zoho_server, woo_server,
                                                                                     monkeypatch):
    monkeypatch.setattr(ctx, "clock", lambda: NOW)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    other = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    start = NOW - timedelta(days=2)
    await add_events(ctx, conn["id"], EVENT_PAGE_SIZE + 8, start=start)
    await add_events(ctx, conn["id"], 2, start=NOW - timedelta(hours=1), outcome="failed", sku="LAMP-9",
                     detail="store refused: rest_invalid_param")
    await add_events(ctx, conn["id"], 1, start=NOW - timedelta(minutes=5), outcome="rejected", zoho_item_id=None,
                     sku=None, detail="the body is not JSON")
    await add_events(ctx, conn["id"], 3, start=NOW - timedelta(days=31))  # past the 30 days
    await add_events(ctx, other["id"], 4, start=start)
    await sign_in(console)
    url = f"/ui/connections/{conn['id']}/webhooks"

    first = await console.get(url)
    assert first.status_code == 200
    total = EVENT_PAGE_SIZE + 8 + 2 + 1
    assert f"Events 1–{EVENT_PAGE_SIZE} of {total}" in first.text and "the last 30 days" in first.text
    assert rows_of(first.text) == EVENT_PAGE_SIZE and ">Next<" in first.text and ">Previous<" not in first.text
    for column in ("Received", "Item / SKU", "Event", "Outcome", "Reason"):
        assert f'<th scope="col">{column}</th>' in first.text
    # Newest first: the rejected delivery, then the two failures, then the synced ones.
    body = first.text
    assert body.index("the body is not JSON") < body.index("rest_invalid_param") < body.index("SKU-057")
    assert "Not an item" in body and "Item created or edited" in body
    newest = (NOW - timedelta(minutes=5)).isoformat()
    assert f'<time datetime="{newest}">' in body  # console.js shows it in the browser's zone

    second = await console.get(url, params={"offset": EVENT_PAGE_SIZE})
    assert rows_of(second.text) == 11 and ">Previous<" in second.text and ">Next<" not in second.text
    assert "SKU-000" in second.text and "SKU-000" not in first.text

    failed = (await console.get(url, params={"outcome": "failed"})).text
    assert "Events 1–2 of 2" in failed and rows_of(failed) == 2 and "LAMP-9" in failed
    assert '<option value="failed" selected>' in failed
    by_sku = (await console.get(url, params={"sku": "SKU-003"})).text
    assert "Events 1–1 of 1" in by_sku
    paged = (await console.get(url, params={"outcome": "synced"})).text
    assert 'href="?outcome=synced&amp;offset=50"' in paged  # the paging links keep the filter
    # The outcome filter offers exactly the outcomes the model defines.
    offered = re.findall(r'<option value="([a-z_]+)"', first.text)
    assert offered == ["queued", "synced", "unchanged", "skipped", "failed", "not_found", "ignored", "rejected"]


async def test_bad_event_filters_are_shown_at_their_field(console, api, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await sign_in(console)
    url = f"/ui/connections/{conn['id']}/webhooks"
    bad = await console.get(url, params={"outcome": "exploded", "sku": "a\x00b"})
    assert bad.status_code == 400
    assert 'id="e-outcome"' in bad.text and "one of queued, synced" in bad.text
    assert 'id="e-sku"' in bad.text and "NUL" in bad.text and 'aria-invalid="true"' in bad.text
    too_long = await console.get(url, params={"sku": "x" * 201})
    assert too_long.status_code == 400 and "at most 200 characters" in too_long.text
    assert (await console.get(url, params={"offset": -1})).status_code == 422
    assert (await console.get("/ui/connections/00000000-0000-0000-0000-000000000000/webhooks")).status_code == 404
    status = (await console.get(f"/ui/connections/{conn['id']}")).text
    nav = re.search(r'<nav aria-label="Connection">.*?</nav>', status, re.S).group(0)
    assert ">Webhook events<" in nav and ">API budget<" in nav
    console.cookies.clear()
    assert (await console.get(url)).status_code == 303  # signed out


def meter(page: str, meter_id: str) -> str:
    return re.search(rf'<meter id="{meter_id}"[^>]*>', page).group(0)


async def test_the_budget_page_shows_meters_and_the_store_error_rate(console, api, ctx, zoho, zoho_server,
                                                                    woo_server, monkeypatch):
    monkeypatch.setattr(ctx, "clock", lambda: NOW)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await sign_in(console)
    url = f"/ui/connections/{conn['id']}/budget"
    empty = await console.get(url)
    assert empty.status_code == 200
    assert 'value="0"' in meter(empty.text, "m-minute") and 'for="m-minute">This minute<' in empty.text
    assert "m-today" not in empty.text and "no daily limit is configured" in empty.text
    assert "No product writes in the last 60 minutes" in empty.text and "m-errors" not in empty.text

    assert (await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": True})).status_code == 200
    calls = (await api.get(f"/api/v1/connections/{conn['id']}/budget")).json()["zoho"]["today"]["used"]
    rows = [{**entry(level="info", message="m", connection_id=conn["id"], action="update",
                     status="failed" if i == 0 else "synced"), "created_at": NOW - timedelta(minutes=i)}
            for i in range(8)]
    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(insert(SyncLog), rows)
    await ctx.redis.set(f"skubridge:zoho:daily-limit:{conn['zoho']['organization_id']}", 1000)  # as Zoho stated it

    page = (await console.get(url)).text
    assert calls >= 2 and f'value="{calls}"' in meter(page, "m-minute") and 'max="100000"' in meter(page, "m-minute")
    today = meter(page, "m-today")
    assert f'value="{calls}"' in today and 'max="1000"' in today and 'min="0"' in today
    assert "(the limit Zoho stated; none is configured)" in page
    assert 'value="0.125"' in meter(page, "m-errors") and 'for="m-errors">Error rate, last 60 minutes<' in page
    assert "1 of 8 product writes failed (12.5%)" in page
    assert '<time datetime="2026-04-01T00:00:00+00:00">' in page  # the day's count starts again
    assert (await console.get("/ui/connections/00000000-0000-0000-0000-000000000000/budget")).status_code == 404
