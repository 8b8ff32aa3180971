"""Two of the console's promises (issue 12) in a real browser: "Export CSV" downloads the log
rows the page's filters match, and a form posted without its CSRF token is refused and changes
nothing (checked through the API), while the same form with its token works."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import insert

from app.logs.export import CSV_COLUMNS
from app.logs.service import entry
from app.models import SyncLog
from tests.helpers import create_connection
from tests.ui.browser import open_status, shot, sign_in

pytestmark = pytest.mark.timeout(60)


async def test_export_csv_downloads_the_rows_the_filters_match(page, api, ctx, zoho, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    rows = [("BLUE-MUG", "updated BLUE-MUG"), ("RED-MUG", "updated RED-MUG"), ("GREEN-CAP", "updated GREEN-CAP"),
            ("=MUG()", "a SKU a spreadsheet would run")]
    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(insert(SyncLog), [entry(level="info", message=message, connection_id=conn["id"],
                                                 action="update", status="ok", sku=sku) for sku, message in rows])
    await sign_in(page)
    await open_status(page, conn["id"])
    await page.get_by_role("link", name="Sync log").click()
    await page.get_by_label("Search").fill("mug")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_role("row")).to_have_count(4)  # the header and three mugs

    async with page.expect_download() as info:
        await page.get_by_role("link", name="Export CSV").click()
    download = await info.value
    assert download.suggested_filename == "skubridge-logs.csv"
    saved = Path(await download.path()).read_text(encoding="utf-8")
    table = list(csv.reader(io.StringIO(saved)))
    assert table[0] == CSV_COLUMNS
    by_sku = {row[CSV_COLUMNS.index("sku")]: dict(zip(CSV_COLUMNS, row, strict=True)) for row in table[1:]}
    assert set(by_sku) == {"BLUE-MUG", "RED-MUG", "'=MUG()"}  # the filter holds; a formula is defused
    red = by_sku["RED-MUG"]
    assert (red["level"], red["action"], red["status"], red["message"]) == ("info", "update", "ok", "updated RED-MUG")
    assert red["connection_id"] == conn["id"]
    await shot(page, "console-log-export.png")


async def drop_csrf(page: Page, button: str) -> None:
    """Take the hidden CSRF input out of the form of the button named `button`."""
    removed = await page.evaluate(
        """(name) => {
             const button = [...document.querySelectorAll("button")].find(b => b.textContent.trim() === name);
             const input = button.form.querySelector("input[name=csrf]");
             input.remove();
             return button.form.querySelector("input[name=csrf]") === null;
           }""", button)
    assert removed


async def test_a_form_posted_without_its_csrf_token_is_refused(page, api, zoho, store, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    status_url = f"/ui/connections/{conn['id']}"
    await sign_in(page)
    await open_status(page, conn["id"])

    for button in ("Enable real-time sync", "Start sync"):
        await drop_csrf(page, button)
        await page.get_by_role("button", name=button, exact=True).click()
        await expect(page.get_by_role("heading", name="Refused")).to_be_visible()
        await expect(page.get_by_role("alert")).to_contain_text("sent without its security token")
        if button == "Start sync":
            await shot(page, "console-csrf-refused.png")
        await page.goto(status_url)
    assert (await api.get(f"/api/v1/connections/{conn['id']}/webhook")).json()["enabled"] is False
    assert (await api.get(f"/api/v1/connections/{conn['id']}/syncs")).json()["items"] == []

    # The same form with its token does what it says.
    await page.get_by_role("button", name="Enable real-time sync", exact=True).click()
    await expect(page.get_by_role("switch", name="Webhook")).to_have_attribute("aria-checked", "true")
    assert (await api.get(f"/api/v1/connections/{conn['id']}/webhook")).json()["enabled"] is True
