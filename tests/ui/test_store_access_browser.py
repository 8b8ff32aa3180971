"""Store access in a real browser: Connect store through the simulator's grant page, then a
read-only key pasted by hand, which Test connection reports."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from simulators.woocommerce.records import ConsumerKey
from tests.helpers import create_connection, service_on_own_port, sim
from tests.ui.browser import open_status, shot, sign_in

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def service(settings, database):
    """The service on a port whose PUBLIC_BASE_URL is its own address (the store posts the key there)."""
    with service_on_own_port(settings) as server:
        yield server


async def test_connect_store_then_test_connection_reports_a_read_only_key(page, api, zoho, store, zoho_server,
                                                                         woo_server):
    sim(woo_server.base_url, "PUT", "/config", json={"connect_http_callbacks": True})
    store.consumer_keys["ck_readonly"] = ConsumerKey("ck_readonly", "cs_readonly", "read")
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await sign_in(page)
    await open_status(page, conn["id"])
    await expect(page.get_by_text("Connect store may not work from this deployment")).to_be_visible()

    await page.get_by_role("button", name="Connect store", exact=True).click()
    await expect(page.get_by_role("heading", name="skubridge would like to connect to your store")).to_be_visible()
    await page.get_by_role("link", name="Approve").click()
    await expect(page).to_have_url(re.compile(f"/ui/connections/{conn['id']}\\?linked=store$"))
    await expect(page.get_by_role("status").filter(has_text="The store is connected")).to_be_visible()
    await shot(page, "console-connect-store.png")

    await page.get_by_text("Paste a key by hand").click()
    await page.get_by_label("Consumer key").fill("ck_readonly")
    await page.get_by_label("Consumer secret").fill("cs_readonly")
    await page.get_by_role("button", name="Save key").click()
    await expect(page.get_by_role("status").filter(has_text="The key you pasted is stored")).to_be_visible()
    await page.get_by_role("button", name="Test connection", exact=True).click()

    await expect(page).to_have_url(re.compile(f"/ui/connections/{conn['id']}/test$"))
    await expect(page.get_by_role("heading", name="Some checks did not pass")).to_be_visible()
    write = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="store.write"))
    await expect(write).to_contain_text("Failed")
    await expect(write).to_contain_text("read-only")
    await expect(write).to_contain_text("Read/Write")
    read = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="store.read"))
    await expect(read).to_contain_text("Passed")
    await shot(page, "console-test-connection.png")
