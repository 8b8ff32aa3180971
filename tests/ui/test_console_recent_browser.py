"""In a real browser: a sync on the simulators in which the store refuses one batch; the
"Recently synced" list fills live, "Failed only" narrows it live, and "Retry failed" starts a
run of the failed items that the page follows to completion."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.helpers import create_connection, sim
from tests.syncs.test_retry_failed import REFUSED_BATCH, catalogue
from tests.ui.browser import counter, open_status, shot, sign_in

pytestmark = pytest.mark.timeout(120)


async def test_recently_synced_failed_only_and_retry_failed(page, api, zoho, store, zoho_server, woo_server, worker):
    zoho.upsert_items(catalogue(12))
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, batch_size=4, store_concurrency=1)
    sim(woo_server.base_url, "PUT", "/config", json={"fail_next": [REFUSED_BATCH], "per_item_latency_ms": 5})
    worker()
    await sign_in(page)
    await open_status(page, conn["id"])
    recent = page.get_by_role("table", name="Recently synced")
    await expect(recent.get_by_role("cell", name="Nothing synced yet in this sync")).to_be_visible()

    await page.get_by_role("button", name="Start sync", exact=True).click()
    await expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100", timeout=30_000)
    await expect(page.get_by_role("status")).to_contain_text("Completed")
    rows = recent.locator("tbody tr")
    await expect(rows).to_have_count(12)
    await expect(recent.locator("tbody tr.failed")).to_have_count(4)
    await expect(recent.locator("tbody tr.failed").first).to_contain_text("Invalid parameter(s): create")
    time = recent.locator("tbody time").first  # formatted by the browser, the exact local time as its title
    iso = await time.get_attribute("datetime") or ""
    assert iso.endswith("+00:00") and await time.get_attribute("title") and await time.inner_text() != iso
    await expect(counter(page, "Failed")).to_have_text("4")
    await shot(page, "console-recent.png")

    await page.get_by_label("Failed only").check()
    await expect(rows).to_have_count(4)
    await expect(recent.locator('tbody tr[data-status="synced"]')).to_have_count(0)

    await page.get_by_role("button", name="Retry failed", exact=True).click()
    await expect(page.get_by_text("A retry of the failed items")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("Completed", timeout=30_000)
    await expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    await expect(counter(page, "Total")).to_have_text("4")
    await expect(counter(page, "Synced")).to_have_text("4")
    await expect(counter(page, "Failed")).to_have_text("0")
    await expect(rows).to_have_count(4)
    await expect(recent.locator('tbody tr[data-status="synced"]')).to_have_count(4)
    await expect(page.get_by_role("button", name="Retry failed", exact=True)).to_be_disabled()
    runs = (await api.get(f"/api/v1/connections/{conn['id']}/syncs")).json()["items"]
    assert [r["kind"] for r in runs] == ["retry", "manual"] and runs[0]["status"] == "completed"
