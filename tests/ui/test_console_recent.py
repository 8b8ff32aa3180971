"""The status page's "Recently synced" list, "Failed only" and "Retry failed", over HTTP
in-process (the browser test is in test_console_recent_browser.py)."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import insert, text

from app.models import SyncRun
from app.ui.router import _snapshot
from tests.helpers import create_connection
from tests.ui.console import sign_in

ITEMS = [("MUG-1", "Blue mug", "synced", None, 1), ("MUG-2", "Red mug", "failed", "Invalid parameter(s): create", 2),
         ("MUG-3", "Green mug", "failed", "Invalid or duplicated SKU.", 3), ("MUG-4", "Cap", "pending", None, 4)]


async def finished_run_with_failures(api, ctx) -> tuple[str, uuid.UUID]:
    conn = await create_connection(api, "http://127.0.0.1:9", "http://127.0.0.1:9")
    run_id = uuid.uuid4()
    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(insert(SyncRun).values(id=run_id, connection_id=uuid.UUID(conn["id"]), kind="manual",
                                                status="completed"))
        for sku, name, status, reason, minute in ITEMS:  # done at given times, not the clock's
            await db.execute(text(
                "INSERT INTO sync_run_items (run_id, zoho_item_id, sku, name, action, status, reason, attempts,"
                " updated_at) VALUES (:run, :sku, :sku, :name, 'create', :status, :reason, 1,"
                " timestamptz '2026-12-01 10:00Z' + make_interval(mins => :minute))"),
                {"run": run_id, "sku": sku, "name": name, "status": status, "reason": reason, "minute": minute})
    return conn["id"], run_id


def rows(page: str) -> list[str]:
    body = page.split('id="recent-rows"')[1].split("</tbody>")[0]
    return re.findall(r"<td>(MUG-\d)</td>", body)


async def test_the_list_shows_the_newest_done_items_and_failed_only_narrows_it(console, api, ctx):
    connection_id, run_id = await finished_run_with_failures(api, ctx)
    await sign_in(console)
    page = (await console.get(f"/ui/connections/{connection_id}")).text
    assert '<h2 id="recent-heading">Recently synced</h2>' in page
    assert [f">{h}</th>" in page for h in ("SKU", "Name", "Action", "Time", "Error")] == [True] * 5
    assert rows(page) == ["MUG-3", "MUG-2", "MUG-1"]  # newest first; the pending one is not done
    assert '<time data-clock datetime="2026-12-01T10:03:00+00:00">' in page
    assert "Invalid or duplicated SKU." in page and "Red mug" in page
    assert re.search(r'id="failed-only"\s*>', page) and "Failed only" in page  # not ticked
    assert re.search(r'<button type="submit" data-control="retry"\s*>Retry failed</button>', page)
    assert f'name="run" value="{run_id}"' in page

    narrowed = (await console.get(f"/ui/connections/{connection_id}", params={"failed": "1"})).text
    assert rows(narrowed) == ["MUG-3", "MUG-2"]
    assert re.search(r'id="failed-only"\s*checked', narrowed)

    async with ctx.sessionmaker() as db:  # the live feed's state: the same rows, and what applies
        live = await _snapshot(db, uuid.UUID(connection_id), failed_only=True)
    assert [r["sku"] for r in live["recent"]] == ["MUG-3", "MUG-2"] and live["failed_only"] is True
    assert live["recent"][0] == {"id": live["recent"][0]["id"], "sku": "MUG-3", "name": "Green mug",
                                 "action": "create", "status": "failed", "error": "Invalid or duplicated SKU.",
                                 "at": "2026-12-01T10:03:00+00:00"}
    assert live["controls"]["retry"] is True


async def test_retry_failed_starts_one_retry_run_which_the_page_then_shows(console, api, ctx):
    connection_id, run_id = await finished_run_with_failures(api, ctx)
    csrf = await sign_in(console)
    path = f"/ui/connections/{connection_id}/retry-failed"
    assert (await console.post(path, data={"run": str(run_id)})).status_code == 403  # no CSRF token

    first = await console.post(path, data={"csrf": csrf, "run": str(run_id)})
    assert first.status_code == 303 and first.headers["location"] == f"/ui/connections/{connection_id}"
    second = await console.post(path, data={"csrf": csrf, "run": str(run_id)})  # a double click
    assert second.status_code == 303 and "already%20being%20retried" in second.headers["location"]
    runs = (await api.get(f"/api/v1/connections/{connection_id}/syncs")).json()["items"]
    assert [(r["kind"], r["retry_of"]) for r in runs] == [("retry", str(run_id)), ("manual", None)]

    page = (await console.get(second.headers["location"])).text
    assert "already being retried" in page
    assert f"A retry of the failed items of sync {str(run_id)[:8]}" in page
    assert 'data-status="queued"' in page and f'name="run" value="{runs[0]["id"]}"' in page
    assert re.search(r'data-control="retry"\s*disabled', page)  # the retry is active
    assert "Nothing synced yet in this sync" in page

    other = await create_connection(api, "http://127.0.0.1:9", "http://127.0.0.1:9")  # not this connection's run
    refused = await console.post(f"/ui/connections/{other['id']}/retry-failed", data={"csrf": csrf, "run": str(run_id)})
    assert refused.status_code == 303 and "not%20a%20sync%20of%20this%20connection" in refused.headers["location"]
