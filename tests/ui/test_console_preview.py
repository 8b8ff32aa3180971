"""The console's preview page over HTTP, in-process: starting one (CSRF, the same service as
the REST endpoint), its states, the table, the action filter and paging. The browser suite
(test_console_look.py) runs the flow on the simulators."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from app.core.jobs import job_key, preview_job_id
from app.models import Preview
from app.ui.preview import PREVIEW_PAGE_SIZE, SHORT_VALUE
from tests.helpers import create_connection
from tests.ui.console import sign_in

CREATED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def item(sku: str, action: str, changes: list[tuple[str, object, object]] = (), reason: str | None = None) -> dict:
    return {"sku": sku, "zoho_item_id": f"z-{sku}", "kind": "product", "name": f"Name of {sku}", "action": action,
            "reason": reason, "store_id": None, "changes": [{"field": f, "store": s, "zoho": z} for f, s, z in changes]}


async def add_preview(ctx, connection_id: str, *, status: str = "completed", result: list[dict] | None = None,
                      reason: str | None = None) -> str:
    summary = None
    if result is not None:
        summary = {}
        for row in result:
            summary[row["action"]] = summary.get(row["action"], 0) + 1
    async with ctx.sessionmaker() as db, db.begin():
        preview = Preview(connection_id=uuid.UUID(connection_id), status=status, reason=reason, result=result,
                          summary=summary, created_at=CREATED, finished_at=CREATED if status in ("completed", "failed") else None)
        db.add(preview)
        await db.flush()
        return str(preview.id)


def body_rows(html: str) -> list[str]:
    tbody = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr[ >].*?</tr>", tbody, flags=re.S)


async def test_signed_out_visitors_are_sent_to_sign_in(console):
    path = "/ui/connections/00000000-0000-0000-0000-000000000000/preview"
    response = await console.get(path)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"


async def test_start_preview_needs_the_csrf_token_and_queues_one_as_the_api_does(console, api, ctx, zoho_server,
                                                                                 woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    csrf = await sign_in(console)
    status = await console.get(f"/ui/connections/{conn['id']}")
    assert f'href="/ui/connections/{conn["id"]}/preview">Preview</a>' in status.text
    empty = await console.get(f"/ui/connections/{conn['id']}/preview")
    assert empty.status_code == 200 and "No preview yet" in empty.text and ">Start preview</button>" in empty.text
    assert "data-poll" not in empty.text

    start = f"/ui/connections/{conn['id']}/preview/start"
    assert (await console.post(start, data={})).status_code == 403
    assert (await console.post(start, data={"csrf": csrf[:-1] + "x"})).status_code == 403
    async with ctx.sessionmaker() as db:
        assert (await db.execute(Preview.__table__.select())).all() == []

    started = await console.post(start, data={"csrf": csrf})
    assert started.status_code == 303
    preview_id = re.fullmatch(rf"/ui/connections/{conn['id']}/preview\?preview=([0-9a-f-]+)",
                              started.headers["location"]).group(1)
    # The same service as POST /api/v1/connections/{id}/preview: a queued preview, its job enqueued after commit.
    read = (await api.get(f"/api/v1/previews/{preview_id}")).json()
    assert read["status"] == "queued" and read["connection_id"] == conn["id"]
    assert await ctx.redis.exists(job_key(preview_job_id(uuid.UUID(preview_id))))

    page = await console.get(started.headers["location"])
    assert page.status_code == 200 and "Queued: waiting for a worker" in page.text
    assert f'data-poll="?preview={preview_id}"' in page.text and ">Refresh</a>" in page.text
    assert "<table" not in page.text
    # Without ?preview= the page shows the newest one.
    assert f'data-poll="?preview={preview_id}"' in (await console.get(f"/ui/connections/{conn['id']}/preview")).text


async def test_a_completed_preview_shows_each_field_and_filters_by_action(console, api, ctx, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await sign_in(console)
    long_text = "<p>" + "A very long description. " * 20 + "</p>"
    result = [item("LAMP", "update", [("regular_price", "20", "22.5"), ("description", "<p>old</p>", long_text)]),
              item("DESK", "create", [("name", None, "Desk"), ("categories", None, [{"id": 3}])]),
              item("CHAIR", "unchanged"),
              item("", "skip", reason="no SKU in Zoho")]
    preview_id = await add_preview(ctx, conn["id"], result=result)
    url = f"/ui/connections/{conn['id']}/preview"

    page = await console.get(url)
    assert page.status_code == 200 and "Status: <strong>Completed</strong>" in page.text
    assert "data-poll" not in page.text
    assert re.search(r'<dt id="count-update">Update</dt><dd aria-labelledby="count-update">1</dd>', page.text)
    assert '<label for="f-action">Action</label>' in page.text and ">Update (1)</option>" in page.text
    for header in ("SKU", "Action", "Field", "Store value", "Zoho value"):
        assert f'<th scope="col">{header}</th>' in page.text
    rows = body_rows(page.text)
    assert len(rows) == 2 + 2 + 1 + 1  # one row per changed field; one for an item without changes
    assert '<th scope="row">LAMP' in rows[0] and "regular_price" in rows[0] and ">20<" in rows[0] and ">22.5<" in rows[0]
    assert 'class="more"' in rows[1] and "<details><summary>" in rows[1]
    assert f"{long_text[:SHORT_VALUE]}…".replace("<", "&lt;").replace(">", "&gt;") in rows[1]
    assert "not set" in rows[2] and "[{&#34;id&#34;: 3}]" in rows[3]
    assert "(no SKU)" in rows[5] and "no SKU in Zoho" in rows[5] and "Zoho item z-" in rows[5]
    assert "<time datetime=\"2026-03-01T09:30:00+00:00\">" in page.text

    updates = await console.get(url, params={"preview": preview_id, "action": "update"})
    assert [r.count('<th scope="row">LAMP') for r in body_rows(updates.text)] == [1, 1]
    assert '<option value="update" selected>' in updates.text and "Items 1–1 of 1" in updates.text
    skips = await console.get(url, params={"preview": preview_id, "action": "Skip"})
    assert len(body_rows(skips.text)) == 1 and "(no SKU)" in skips.text

    wrong = await console.get(url, params={"preview": preview_id, "action": "delete"})
    assert wrong.status_code == 400
    assert 'aria-invalid="true" aria-describedby="e-action"' in wrong.text
    assert '<p class="error" id="e-action">one of create, update, unchanged, skip</p>' in wrong.text


async def test_a_large_preview_is_paged_by_item(console, api, ctx, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await sign_in(console)
    count = PREVIEW_PAGE_SIZE * 2 + 7
    preview_id = await add_preview(ctx, conn["id"], result=[
        item(f"SKU-{n:03}", "update" if n % 2 else "create", [("name", "a", "b"), ("regular_price", "1", "2")])
        for n in range(count)])
    url = f"/ui/connections/{conn['id']}/preview"
    first = await console.get(url)
    assert f"Items 1–{PREVIEW_PAGE_SIZE} of {count}" in first.text and len(body_rows(first.text)) == 2 * PREVIEW_PAGE_SIZE
    assert 'rel="prev"' not in first.text
    assert f'href="?preview={preview_id}&amp;offset={PREVIEW_PAGE_SIZE}" rel="next"' in first.text
    last = await console.get(url, params={"preview": preview_id, "offset": 2 * PREVIEW_PAGE_SIZE})
    assert f"Items {2 * PREVIEW_PAGE_SIZE + 1}–{count} of {count}" in last.text and 'rel="next"' not in last.text
    assert len(body_rows(last.text)) == 2 * 7 and "SKU-100" in last.text
    # Paging keeps the filter.
    creates = await console.get(url, params={"preview": preview_id, "action": "create"})
    assert f"of {count // 2 + 1}" in creates.text
    assert f'href="?preview={preview_id}&amp;action=create&amp;offset={PREVIEW_PAGE_SIZE}" rel="next"' in creates.text


async def test_a_failed_preview_says_why_and_another_connections_is_not_found(console, api, ctx, zoho_server,
                                                                              woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    other = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await sign_in(console)
    failed = await add_preview(ctx, conn["id"], status="failed", reason="Zoho refused the refresh token")
    page = await console.get(f"/ui/connections/{conn['id']}/preview")
    assert "Status: <strong>Failed</strong> (Zoho refused the refresh token)" in page.text
    assert "The preview failed: Zoho refused the refresh token." in page.text and "<table" not in page.text
    assert (await console.get(f"/ui/connections/{other['id']}/preview", params={"preview": failed})).status_code == 404
    assert (await console.get(f"/ui/connections/{conn['id']}/preview",
                              params={"preview": str(uuid.uuid4())})).status_code == 404
