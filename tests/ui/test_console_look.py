"""The console in a real browser (Debian's chromium, tests/ui/browser.py): the preview flow on the
simulators, the keyboard alone, a phone's width and the browser's time zone."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import insert, update

from app.logs.service import entry
from app.models import Connection, SyncLog
from tests.catalogue.test_variable_and_images import sync
from tests.helpers import create_connection
from tests.ui.browser import open_status, shot, sign_in
from tests.ui.test_console_preview import add_preview, item

pytestmark = pytest.mark.timeout(120)


async def test_start_a_preview_see_its_table_and_filter_it_by_action(page, api, zoho, store, zoho_server, woo_server,
                                                                     worker):
    zoho.upsert_items([
        {"item_id": "31", "name": "Lamp", "sku": "P-LAMP", "rate": 20, "status": "active", "stock_on_hand": 3},
        {"item_id": "32", "name": "Desk", "sku": "P-DESK", "rate": 150, "status": "active", "stock_on_hand": 1},
        {"item_id": "33", "name": "No sku", "sku": "", "rate": 1, "status": "active"},
    ])
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    await sync(api, conn["id"])
    zoho.patch_item("31", {"rate": 22.5})
    zoho.upsert_items([{"item_id": "34", "name": "Shelf", "sku": "P-SHELF", "rate": 30, "status": "active",
                        "stock_on_hand": 2}])

    await sign_in(page)
    await open_status(page, conn["id"])
    await page.get_by_role("navigation", name="Connection").get_by_role("link", name="Preview").click()
    await expect(page.get_by_role("heading", name="Preview", level=1)).to_be_visible()
    await page.get_by_role("button", name="Start preview").click()
    await page.wait_for_load_state()
    await page.evaluate("window.__sameDocument = true")
    # The page updates itself once the worker has built it: no reload.
    table = page.get_by_role("table")
    await expect(table).to_be_visible(timeout=30_000)
    await expect(page.get_by_role("status")).to_have_text("Status: Completed")
    assert await page.evaluate("window.__sameDocument === true")
    lamp = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="P-LAMP"))
    await expect(lamp).to_have_count(1)
    await expect(lamp.get_by_role("cell")).to_have_text(["update", "regular_price", "20.00", "22.50"])
    await expect(page.get_by_role("rowheader", name=re.compile("^P-SHELF")).first).to_be_visible()

    await page.get_by_label("Action").select_option("update")
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(re.compile(r"action=update"))
    body = table.locator("tbody tr")
    await expect(body).to_have_count(1)
    await expect(body.get_by_role("rowheader")).to_have_text([re.compile("^P-LAMP")])
    await page.get_by_label("Action").select_option("create")
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(re.compile(r"action=create"))
    assert set(await body.locator(".badge").all_inner_texts()) == {"create"}
    await expect(page.get_by_role("rowheader", name=re.compile("^P-SHELF")).first).to_be_visible()
    await page.get_by_label("Action").select_option("")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_role("rowheader", name=re.compile("^P-DESK")).first).to_be_visible()
    await shot(page, "console-preview.png")


async def focus_visible(page: Page) -> bool:
    return bool(await page.evaluate("""() => {
        const style = getComputedStyle(document.activeElement);
        return document.activeElement.matches(':focus-visible') && style.outlineStyle !== 'none'
            && parseFloat(style.outlineWidth) >= 2;
    }"""))


async def tab_to(page: Page, role: str, name: str, *, limit: int = 40) -> list[str]:
    """Press Tab until the focus is on `role` named `name`; every stop on the way, each with
    visible focus."""
    stops = []
    target = page.get_by_role(role, name=name, exact=True)
    for _ in range(limit):
        await page.keyboard.press("Tab")
        stops.append(await page.evaluate("document.activeElement.textContent.trim() || document.activeElement.tagName"))
        assert await focus_visible(page), stops  # where the keyboard is can be seen
        if await target.evaluate("el => el === document.activeElement"):
            return stops
    raise AssertionError(f"{role} {name!r} not reached with Tab: {stops}")


async def test_sign_in_and_start_a_sync_with_the_keyboard_alone(page, api, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await page.goto("/ui/login")
    await page.keyboard.type("test-token")  # the API token field has the focus
    await tab_to(page, "button", "Sign in")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Connections")).to_be_visible()

    stops = await tab_to(page, "link", "Test store")
    assert stops[0] == "Skip to content"
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(f"/ui/connections/{conn['id']}$"))
    await tab_to(page, "button", "Start sync")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("Queued")
    runs = (await api.get(f"/api/v1/connections/{conn['id']}/syncs")).json()["items"]
    assert [r["kind"] for r in runs] == ["manual"]
    # No trap: from the top, Tab reaches the page's last control.
    stops = await tab_to(page, "button", "Enable real-time sync")
    assert stops[:4] == ["Skip to content", "skubridge", "Connections", "Sign out"]


@pytest.fixture
async def browser(page):
    """The `page` fixture's browser, for contexts of another size or time zone."""
    return page.context.browser


async def test_at_phone_width_pages_do_not_scroll_sideways(browser, service, api, ctx, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(insert(SyncLog), [
            entry(level="error", message="store refused: " + "x" * 300, connection_id=uuid.UUID(conn["id"]),
                  action="update", status="failed", sku=f"A-RATHER-LONG-SKU-NUMBER-{n}") for n in range(3)])
    context = await browser.new_context(base_url=service.base_url, viewport={"width": 375, "height": 667})
    phone = await context.new_page()
    await sign_in(phone)
    width = "document.documentElement.scrollWidth"
    assert await phone.evaluate(width) <= 375
    await open_status(phone, conn["id"])
    assert await phone.evaluate(width) <= 375
    start = await phone.get_by_role("button", name="Start sync", exact=True).bounding_box()
    assert start is not None and start["x"] >= 0 and start["x"] + start["width"] <= 375
    await shot(phone, "console-status-phone.png")
    await phone.get_by_role("link", name="Sync log").click()
    await expect(phone.get_by_role("heading", name="Sync log")).to_be_visible()
    assert await phone.evaluate(width) <= 375
    # The log's wide table scrolls inside its own box, which the keyboard can reach.
    box = phone.locator(".table-wrap")
    assert await box.evaluate("el => el.scrollWidth > el.clientWidth")
    await expect(box).to_have_attribute("tabindex", "0")
    long = "A long description without a break: " + "word" * 80
    await add_preview(ctx, conn["id"], result=[item("P-ONE", "update", [("description", "short", long)])])
    await phone.goto(f"/ui/connections/{conn['id']}/preview")
    await expect(phone.get_by_role("table")).to_be_visible()
    assert await phone.evaluate(width) <= 375
    for page in ("settings", "webhooks", "budget"):
        await phone.goto(f"/ui/connections/{conn['id']}/{page}")
        assert await phone.evaluate(width) <= 375, page
    await context.close()


async def test_times_are_shown_in_the_browsers_time_zone(browser, service, api, ctx, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    at = datetime(2026, 1, 31, 3, 0, tzinfo=UTC)
    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(insert(SyncLog), [{**entry(level="info", message="updated", connection_id=uuid.UUID(conn["id"]),
                                                    sku="TZ-1"), "created_at": at}])
        await db.execute(update(Connection).where(Connection.id == uuid.UUID(conn["id"]))
                         .values(last_catchup_at=datetime(2026, 1, 31, 14, 30, tzinfo=UTC)))
    context = await browser.new_context(base_url=service.base_url, timezone_id="Asia/Tokyo", locale="en-GB",
                                        viewport={"width": 1280, "height": 800})
    tokyo = await context.new_page()
    await sign_in(tokyo)
    await tokyo.goto(f"/ui/connections/{conn['id']}/log")
    time = tokyo.locator("td time")
    await expect(time).to_have_text("31/01/2026, 12:00:00")  # 03:00 UTC is noon in Tokyo
    await expect(time).to_have_attribute("title", "2026-01-31T03:00:00+00:00")  # the exact time, kept
    await tokyo.goto(f"/ui/connections/{conn['id']}")
    await expect(tokyo.locator("#webhook time")).to_have_text("31/01/2026, 23:30:00")  # the last catch-up
    await context.close()
