"""Connect Zoho in a real browser: the service on its own port with PUBLIC_BASE_URL saying so,
consent at the Zoho simulator (Accept / Deny), back through the callback to the console; and the
"Reconnect Zoho" banner of a connection whose refresh token Zoho refused."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import expect
from pydantic import SecretStr

from app.connections.links import mark_needs_reconnect
from simulators.zoho import DEMO_CREDENTIALS as DEMO
from tests.helpers import create_connection, service_on_own_port
from tests.ui.browser import shot, sign_in

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def service(settings, database, zoho_server):
    """The service on a port it knows (the callback URL Zoho sends the browser to), with the
    deployment's Zoho OAuth client and consent starting at the simulator."""
    with service_on_own_port(settings, zoho_accounts_url=zoho_server.base_url, zoho_client_id=DEMO.client_id,
                             zoho_client_secret=SecretStr(DEMO.client_secret)) as server:
        yield server


async def test_connect_zoho_deny_then_approve(page, api, zoho, store, woo_server):
    await sign_in(page)
    await page.get_by_role("link", name="Link by signing in").click()
    await page.get_by_label("Name").fill("Signed-in store")
    await page.get_by_label("Store URL").fill(woo_server.base_url)
    await page.get_by_role("button", name="Create and link").click()
    await expect(page.locator("#zoho-state")).to_have_text("Not linked")

    await page.get_by_role("button", name="Connect Zoho", exact=True).click()
    await expect(page.get_by_role("heading", name=re.compile("would like to access"))).to_be_visible()
    await page.get_by_role("button", name="Deny").click()
    await expect(page.get_by_role("alert")).to_contain_text("Zoho sign-in was denied")
    await expect(page.locator("#zoho-state")).to_have_text("Not linked")

    await page.get_by_role("button", name="Connect Zoho", exact=True).click()
    await page.get_by_role("button", name="Accept").click()
    await expect(page.get_by_role("status")).to_contain_text("Zoho is linked.")
    await expect(page.locator("#zoho-state")).to_have_text("Linked")
    await shot(page, "console-connect-zoho.png")
    connection_id = re.search(r"/ui/connections/([0-9a-f-]+)/zoho", page.url).group(1)
    read = (await api.get(f"/api/v1/connections/{connection_id}")).json()
    assert read["zoho"]["linked"] is True and read["zoho"]["organization_id"] == DEMO.organization_id


async def test_the_reconnect_banner_reconnects_zoho(page, api, ctx, zoho, store, zoho_server, woo_server):
    connection = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await mark_needs_reconnect(ctx, uuid.UUID(connection["id"]), "Zoho refused the refresh token (invalid_code)")
    await sign_in(page)
    banner = page.get_by_role("alert")
    await expect(banner).to_contain_text("Zoho needs reconnecting")  # on the connections page
    await page.get_by_role("link", name="Test store").click()
    await expect(banner).to_contain_text("invalid_code")  # and on the status page
    await shot(page, "console-reconnect-zoho.png")

    await banner.get_by_role("button", name="Reconnect Zoho").click()
    await page.get_by_role("button", name="Accept").click()
    await expect(page.get_by_role("status")).to_contain_text("Zoho is linked.")
    assert DEMO.refresh_token not in zoho.refresh_tokens  # the old grant was revoked first
    await page.get_by_role("link", name="Status").click()
    await expect(page.get_by_role("button", name="Start sync", exact=True)).to_be_visible()
    await expect(page.get_by_role("alert")).to_have_count(0)
