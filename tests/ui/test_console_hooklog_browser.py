"""The webhook event log and the API budget page in a real browser (Debian's chromium): reached
from the status page's links, the outcome filter, times shown in the browser's zone, the meters
read by their labels; a screenshot of each page."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect
from sqlalchemy import insert

from app.logs.service import entry
from app.models import SyncLog, WebhookEvent
from tests.helpers import create_connection
from tests.ui.browser import open_status, shot, sign_in

pytestmark = pytest.mark.timeout(120)


async def test_the_webhook_log_and_the_budget_pages(page, api, ctx, zoho, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    assert (await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": True})).status_code == 200
    events = [{"connection_id": conn["id"], "zoho_item_id": f"4600000{i}", "sku": f"LAMP-{i}", "outcome": outcome,
               "detail": detail} for i, (outcome, detail) in enumerate([
                   ("synced", None), ("unchanged", None), ("failed", "rest_invalid_param: Invalid parameter(s): sku"),
                   ("skipped", "the item has no SKU"), ("queued", None)])]
    writes = [entry(level="info", message="m", connection_id=conn["id"], action="update",
                    status="failed" if i < 2 else "synced") for i in range(10)]
    async with ctx.sessionmaker() as db, db.begin():  # received and written now, by the database's clock
        await db.execute(insert(WebhookEvent), events)
        await db.execute(insert(SyncLog), writes)

    await sign_in(page)
    await open_status(page, conn["id"])
    links = page.get_by_role("navigation", name="Connection")
    await links.get_by_role("link", name="Webhook events").click()
    await expect(page.get_by_role("heading", name="Webhook events")).to_be_visible()
    table = page.get_by_role("table")
    await expect(table.get_by_role("row")).to_have_count(1 + 5)
    received = table.locator("time").first
    await expect(received).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\dT"))  # the exact ISO time
    await expect(received).not_to_contain_text("UTC")  # shown in the browser's zone by console.js
    await page.get_by_label("Outcome").select_option("failed")
    await page.get_by_role("button", name="Filter").click()
    await expect(table.get_by_role("row")).to_have_count(1 + 1)
    await expect(table).to_contain_text("rest_invalid_param")
    await shot(page, "console-webhook-log.png")

    await page.get_by_role("link", name="Test store").click()
    await links.get_by_role("link", name="API budget").click()
    await expect(page.get_by_role("heading", name="API budget")).to_be_visible()
    minute = page.get_by_role("meter", name="This minute")
    await expect(minute).to_have_attribute("value", re.compile(r"^[1-9]\d*$"))  # the webhook set-up's calls
    await expect(page.get_by_role("meter", name="Error rate, last 60 minutes")).to_have_attribute("value", "0.2")
    await expect(page.get_by_text("2 of 10 product writes failed (20.0%)")).to_be_visible()
    await shot(page, "console-budget.png")
