"""The console in a real browser: Debian's chromium driven by Playwright (tests/ui/browser.py),
against the service on a real uvicorn port, a real worker process and both simulators. Each
test also saves a screenshot of the page it is on."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import expect

from tests.helpers import create_connection, sim
from tests.ui.browser import counter, open_status, shot, sign_in, still_same_document

pytestmark = pytest.mark.timeout(120)


async def test_sign_in_start_a_sync_and_watch_it_reach_100_without_a_reload(page, api, zoho, store, zoho_server,
                                                                            woo_server, worker):
    zoho.generate_catalogue(120, seed=11)
    sim(woo_server.base_url, "PUT", "/config", json={"per_item_latency_ms": 5})
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, batch_size=20)
    worker()
    await sign_in(page, screenshot=True)
    await shot(page, "console-connections.png")
    await open_status(page, conn["id"])
    bar = page.get_by_role("progressbar")
    await expect(bar).to_have_attribute("aria-valuenow", "0")

    # Start sync is a form post (one navigation); from then on the page only listens.
    await page.get_by_role("button", name="Start sync", exact=True).click()
    await page.wait_for_load_state()
    await page.evaluate("window.__sameDocument = true")
    await expect(bar).to_have_attribute("aria-valuenow", "100", timeout=30_000)
    await expect(page.get_by_role("status")).to_contain_text("Completed")
    assert await still_same_document(page)
    run = (await api.get(f"/api/v1/connections/{conn['id']}/syncs")).json()["items"][0]
    for label in ("Total", "Synced", "Failed", "Pending", "Skipped"):
        await expect(counter(page, label)).to_have_text(str(run[label.lower()]))
    assert run["synced"] > 0 and run["pending"] == 0
    await expect(page.get_by_role("button", name="Pause", exact=True)).to_be_disabled()
    await expect(page.get_by_role("button", name="Verify store", exact=True)).to_be_enabled()
    await shot(page, "console-status.png")


async def test_pause_holds_the_counters_resume_continues_cancel_is_final(page, api, zoho, store, zoho_server,
                                                                         woo_server, worker):
    zoho.generate_catalogue(300, seed=7)
    sim(woo_server.base_url, "PUT", "/config", json={"per_item_latency_ms": 20})
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, batch_size=10,
                                   store_concurrency=2)
    worker()
    await sign_in(page)
    await open_status(page, conn["id"])
    await page.get_by_role("button", name="Start sync", exact=True).click()
    await page.wait_for_load_state()
    await page.evaluate("window.__sameDocument = true")
    synced = counter(page, "Synced")
    await expect(synced).not_to_have_text("0", timeout=20_000)

    await page.get_by_role("button", name="Pause", exact=True).click()
    status = page.get_by_role("status")
    await expect(status).to_contain_text("Paus")  # "Pausing: ..." then "Paused"
    await expect(status).to_contain_text("Paused", timeout=10_000)
    await expect(page.locator("#run-status")).to_have_attribute("data-status", "paused")
    await page.evaluate("window.__sameDocument = true")
    held = {label: await counter(page, label).inner_text() for label in ("Synced", "Pending", "Failed")}
    await asyncio.sleep(1.5)  # a paused run writes nothing: the live counters stay where they are
    assert {label: await counter(page, label).inner_text() for label in held} == held
    assert int(held["Pending"]) > 0
    api_view = (await api.get(f"/api/v1/connections/{conn['id']}/syncs")).json()["items"][0]
    assert api_view["status"] == "paused" and str(api_view["synced"]) == held["Synced"]
    await expect(page.get_by_role("button", name="Resume", exact=True)).to_be_enabled()
    await shot(page, "console-paused.png")

    await page.get_by_role("button", name="Resume", exact=True).click()
    await expect(status).to_have_text("Status: Running", timeout=10_000)
    await expect(synced).not_to_have_text(held["Synced"], timeout=10_000)

    await page.get_by_role("button", name="Cancel", exact=True).click()
    await expect(status).to_contain_text("Cancelled", timeout=10_000)
    run = (await api.get(f"/api/v1/connections/{conn['id']}/syncs")).json()["items"][0]
    assert run["status"] == "cancelled" and run["pending"] == 0 and run["cancelled"] > 0
    await expect(page.get_by_role("button", name="Start sync", exact=True)).to_be_enabled()


async def test_toggle_the_webhook_switch_and_search_the_log_for_a_sku(page, api, ctx, zoho, zoho_server, woo_server):
    from sqlalchemy import insert

    from app.logs.service import entry
    from app.models import SyncLog

    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    assert (await api.put(f"/api/v1/connections/{conn['id']}/webhook", json={"enabled": True})).status_code == 200
    async with ctx.sessionmaker() as db, db.begin():
        await db.execute(insert(SyncLog), [entry(level="info", message=f"updated {sku}", connection_id=conn["id"],
                                                 action="update", status="ok", sku=sku)
                                           for sku in ("BLUE-MUG", "RED-MUG", "GREEN-CAP")])
    await sign_in(page)
    await open_status(page, conn["id"])
    webhook = page.get_by_role("switch", name="Webhook")
    await expect(webhook).to_have_attribute("aria-checked", "true")
    await webhook.click()
    await expect(page.get_by_role("switch", name="Webhook")).to_have_attribute("aria-checked", "false")
    assert (await api.get(f"/api/v1/connections/{conn['id']}/webhook")).json()["active"] is False
    await shot(page, "console-webhook.png")

    await page.get_by_role("link", name="Sync log").click()
    await page.get_by_label("Search").fill("red-mug")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_role("row")).to_have_count(2)  # the header and the one match
    await expect(page.get_by_role("cell", name="RED-MUG", exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="Export CSV")).to_have_attribute("href", re.compile(r"log\.csv\?q=red-mug$"))
    await shot(page, "console-log.png")
