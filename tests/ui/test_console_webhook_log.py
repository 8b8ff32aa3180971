"""The console's webhook panel and sync log page, in-process: the switch and the set-up
buttons against the Zoho simulator (CSRF required), and the log's filters, paging and CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from app.logs.service import entry
from app.models import SyncLog
from app.ui.log import LOG_PAGE_SIZE
from tests.helpers import create_connection
from tests.ui.console import sign_in


def switch(page: str) -> str:
    return re.search(r'<button[^>]*role="switch"[^>]*>', page).group(0)


async def test_the_webhook_panel_enables_toggles_and_disables_through_zoho(console, api, zoho, zoho_server,
                                                                         woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    csrf = await sign_in(console)
    base = f"/ui/connections/{conn['id']}"
    page = (await console.get(base)).text
    assert 'aria-label="Webhook"' in switch(page) and "disabled" in switch(page)  # nothing to toggle yet
    assert "Last received</dt><dd>Never" in page and "Last catch-up</dt><dd>Never" in page
    assert ">Enable real-time sync<" in page and ">Disable real-time sync<" in page

    enabled = await console.post(f"{base}/webhook/enable", data={"csrf": csrf})
    assert enabled.status_code == 303 and enabled.headers["location"] == base
    assert len(zoho.webhooks) == 1 and len(zoho.workflows) == 1
    page = (await console.get(base)).text
    assert 'aria-checked="true"' in switch(page) and "switch on" in switch(page)

    # The switch posts the state it turns to: clicking it twice from a stale page is idempotent.
    off = await console.post(f"{base}/webhook/switch", data={"csrf": csrf, "active": "false"})
    assert off.status_code == 303 and "notice" not in off.headers["location"]
    [flow] = zoho.workflows.values()
    assert flow["is_active"] is False
    assert (await api.get(f"/api/v1/connections/{conn['id']}/webhook")).json()["active"] is False
    page = (await console.get(base)).text
    assert 'aria-checked="false"' in switch(page) and "switch off" in switch(page)
    await console.post(f"{base}/webhook/switch", data={"csrf": csrf, "active": "true"})
    assert flow["is_active"] is True

    disabled = await console.post(f"{base}/webhook/disable", data={"csrf": csrf})
    assert disabled.status_code == 303 and zoho.webhooks == {} and zoho.workflows == {}
    assert (await api.get(f"/api/v1/connections/{conn['id']}/webhook")).json()["enabled"] is False


async def test_webhook_forms_without_csrf_are_refused_and_refusals_show_on_the_page(console, api, zoho,
                                                                                   zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    csrf = await sign_in(console)
    base = f"/ui/connections/{conn['id']}"
    for verb in ("enable", "switch", "disable"):
        assert (await console.post(f"{base}/webhook/{verb}", data={"active": "true"})).status_code == 403, verb
    assert zoho.webhooks == {}  # the refused enable never reached Zoho
    refused = await console.post(f"{base}/webhook/switch", data={"csrf": csrf, "active": "true"})
    assert refused.status_code == 303 and "notice=" in refused.headers["location"]
    assert "the webhook is not enabled" in (await console.get(refused.headers["location"])).text
    assert (await console.post(f"{base}/webhook/explode", data={"csrf": csrf})).status_code == 404


async def test_last_received_and_last_catchup_are_iso_times_for_the_browser(console, api, ctx, zoho,
                                                                            zoho_server, woo_server):
    from sqlalchemy import update

    from app.models import Connection, WebhookEvent

    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    received, caught_up = datetime(2026, 3, 1, 12, 0, tzinfo=UTC), datetime(2026, 3, 1, 11, 30, tzinfo=UTC)
    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(insert(WebhookEvent).values(connection_id=conn["id"], received_at=received,
                                                     zoho_item_id="1", outcome="synced"))
        await db.execute(update(Connection).where(Connection.id == conn["id"]).values(last_catchup_at=caught_up))
    await sign_in(console)
    page = (await console.get(f"/ui/connections/{conn['id']}")).text
    assert f'<time data-relative datetime="{received.isoformat()}">' in page
    assert f'<time datetime="{caught_up.isoformat()}">' in page


async def add_logs(ctx, connection_id: str, count: int, *, start: datetime, **fields) -> None:
    rows = [{**entry(level=fields.get("level", "info"), message=f"synced item {i}", connection_id=connection_id,
                     action=fields.get("action", "update"), status=fields.get("status", "ok"), sku=f"SKU-{i:03d}"),
             "created_at": start + timedelta(minutes=i)} for i in range(count)]
    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(insert(SyncLog), rows)


async def test_the_log_page_searches_filters_and_pages(console, api, ctx, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    other = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    await add_logs(ctx, conn["id"], LOG_PAGE_SIZE + 10, start=start)
    await add_logs(ctx, conn["id"], 2, start=start + timedelta(days=1), level="error", action="create", status="failed")
    await add_logs(ctx, other["id"], 3, start=start)
    await sign_in(console)
    log = f"/ui/connections/{conn['id']}/log"

    first = await console.get(log)
    assert first.status_code == 200 and f"of {LOG_PAGE_SIZE + 12}" in first.text
    assert 'for="f-q">Search</label>' in first.text and ">Export CSV<" in first.text
    assert ">Next<" in first.text and ">Previous<" not in first.text
    assert first.text.count("<tr>") == LOG_PAGE_SIZE + 1  # the header row and one page
    second = await console.get(log, params={"offset": LOG_PAGE_SIZE})
    assert second.text.count("<tr>") == 12 + 1 and ">Previous<" in second.text and ">Next<" not in second.text
    assert "SKU-005" in second.text and "SKU-005" not in first.text  # newest first
    assert "SKU-059" in first.text and "SKU-059" not in second.text

    found = (await console.get(log, params={"q": "sku-007"})).text
    assert "Rows 1–1 of 1" in found and "SKU-007" in found
    errors = (await console.get(log, params={"level": "error", "action": "create", "status": "failed"})).text
    assert "of 2<" in errors or "of 2\n" in errors
    window = await console.get(log, params={"from": "2026-03-01T00:10:00Z", "to": "2026-03-01T00:20:00"})
    assert "Rows 1–10 of 10" in window.text  # from inclusive, to exclusive, UTC when no offset
    # The paging links keep the filters.
    paged = (await console.get(log, params={"action": "update"})).text
    assert 'href="?action=update&amp;offset=50"' in paged


async def test_bad_log_filters_are_shown_at_their_field(console, api, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await sign_in(console)
    log = f"/ui/connections/{conn['id']}/log"
    bad = await console.get(log, params={"from": "yesterday", "level": "loud", "q": "a\x00b"})
    assert bad.status_code == 400
    assert 'id="e-from"' in bad.text and "ISO 8601" in bad.text and 'id="e-level"' in bad.text
    assert 'id="e-q"' in bad.text and 'value="yesterday"' in bad.text
    csv_bad = await console.get(f"{log}.csv", params={"to": "soon"})
    assert csv_bad.status_code == 400 and csv_bad.headers["content-type"].startswith("text/html")
    assert "<h1>Bad request</h1>" in csv_bad.text and "to: " in csv_bad.text  # a page naming the field
    assert (await console.get(log, params={"offset": -1})).status_code == 422
    assert (await console.get("/ui/connections/00000000-0000-0000-0000-000000000000/log")).status_code == 404


async def test_export_csv_has_every_matching_row_in_the_api_shape(console, api, ctx, zoho_server,
                                                                 woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await add_logs(ctx, conn["id"], LOG_PAGE_SIZE + 5, start=datetime(2026, 3, 1, tzinfo=UTC))
    await add_logs(ctx, conn["id"], 1, start=datetime(2026, 3, 2, tzinfo=UTC), status="failed")
    await sign_in(console)
    page = (await console.get(f"/ui/connections/{conn['id']}/log", params={"status": "ok"})).text
    link = re.search(r'href="([^"]+)" download>Export CSV', page).group(1)
    assert link.endswith("log.csv?status=ok")
    exported = await console.get(link.replace("&amp;", "&"))
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == LOG_PAGE_SIZE + 5 and {r["status"] for r in rows} == {"ok"}  # not just one page
    api_csv = await api.get("/api/v1/logs", params={"connection_id": conn["id"], "status": "ok", "format": "csv",
                                                  "limit": 500})
    assert exported.text == api_csv.text  # one writer for both
    console.cookies.clear()
    assert (await console.get(link.replace("&amp;", "&"))).status_code == 303  # signed out: no export
