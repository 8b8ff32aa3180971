"""The sync log API: every filter, free-text search (wildcards are literal), paging, CSV."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from app.logs.service import entry, write_logs
from app.models import SyncLog

CONN, OTHER, RUN = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


async def seed(ctx):
    async with ctx.sessionmaker() as session:
        await write_logs(session, [
            entry(level="info", action="create", status="synced", connection_id=CONN, run_id=RUN, sku="AB-1",
                  message="created product #10"),
            entry(level="error", action="update", status="failed", connection_id=CONN, run_id=RUN, sku="AB-2",
                  message="update failed: product_invalid_sku: Invalid or duplicated SKU."),
            entry(level="info", action="skip", status="skipped", connection_id=OTHER, sku="100%_OFF",
                  message="skipped: =HYPERLINK(\"x\") inactive in Zoho"),
        ])
        old = datetime.now(UTC) - timedelta(days=3)
        await session.execute(update(SyncLog).where(SyncLog.sku == "AB-1").values(created_at=old))
        await session.commit()


async def query(api, **params) -> list[dict]:
    response = await api.get("/api/v1/logs", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_filters_and_search(api, ctx):
    await seed(ctx)
    assert {r["sku"] for r in await query(api, connection_id=str(CONN))} == {"AB-1", "AB-2"}
    assert [r["sku"] for r in await query(api, run_id=str(RUN), level="error")] == ["AB-2"]
    assert [r["sku"] for r in await query(api, action="skip")] == ["100%_OFF"]
    assert [r["sku"] for r in await query(api, status="synced")] == ["AB-1"]
    assert [r["sku"] for r in await query(api, sku="AB-2")] == ["AB-2"]
    assert [r["sku"] for r in await query(api, q="duplicated sku")] == ["AB-2"]
    # LIKE wildcards in the search text are literal: "%_" matches only the SKU that holds them.
    assert [r["sku"] for r in await query(api, q="%_")] == ["100%_OFF"]
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert {r["sku"] for r in await query(api, **{"from": since})} == {"AB-2", "100%_OFF"}
    assert [r["sku"] for r in await query(api, to=since)] == ["AB-1"]


async def test_paging_newest_first(api, ctx):
    await seed(ctx)
    first = (await api.get("/api/v1/logs", params={"limit": 2})).json()
    second = (await api.get("/api/v1/logs", params={"limit": 2, "offset": 2})).json()
    assert first["total"] == 3 and len(first["items"]) == 2 and len(second["items"]) == 1
    assert second["items"][0]["sku"] == "AB-1"  # the oldest


async def test_csv_export_defuses_formulas(api, ctx):
    await seed(ctx)
    async with ctx.sessionmaker() as session:
        await write_logs(session, [entry(level="info", action="probe", sku="=2+5", message="@SUM(A1)")])
        await session.commit()
    response = await api.get("/api/v1/logs", params={"format": "csv", "action": "probe"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows == [rows[0]] and rows[0]["sku"] == "'=2+5" and rows[0]["message"] == "'@SUM(A1)"


async def test_bad_filters_are_422(api):
    for params in ({"level": "loud"}, {"from": "yesterday"}, {"limit": 0}, {"connection_id": "x"}):
        response = await api.get("/api/v1/logs", params=params)
        assert response.status_code == 422 and response.json()["error"] == "ValidationError"
