"""The console's forms in a real browser: add a connection (one error shown at its field, fixed,
then saved), open its settings and apply a preset."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.ui.browser import shot, sign_in

pytestmark = pytest.mark.timeout(120)

SECRETS = {"Client ID": "1000.BROWSER", "Client secret": "browser-secret", "Refresh token": "1000.browser-refresh",
           "Consumer key": "ck_browser", "Consumer secret": "cs_browser"}


async def test_add_a_connection_fix_an_error_then_apply_a_preset(page, api, woo_server):
    await sign_in(page)
    await page.get_by_role("link", name="Add connection").click()
    form = page.get_by_role("region", name="Add a connection")
    await form.get_by_label("Name", exact=True).fill("Browser store")
    await form.get_by_label("Data centre").select_option("eu")
    await form.get_by_label("Organization ID").fill("acme org")
    await form.get_by_label("Store URL").fill(woo_server.base_url)
    for label, value in SECRETS.items():
        await form.get_by_label(label, exact=True).fill(value)
    await form.get_by_role("button", name="Add connection").click()

    # Refused: the message at the field, which has the focus; the rest filled in but the secrets.
    org = form.get_by_label("Organization ID")
    await expect(org).to_have_attribute("aria-invalid", "true")
    await expect(org).to_be_focused()
    await expect(org).to_have_accessible_description(re.compile("should match pattern"))
    await expect(form.get_by_label("Name", exact=True)).to_have_value("Browser store")
    await expect(form.get_by_label("Data centre")).to_have_value("eu")
    for label in SECRETS:
        await expect(form.get_by_label(label, exact=True)).to_have_value("")
    await shot(page, "console-add-connection.png")
    assert (await api.get("/api/v1/connections")).json() == []

    await org.fill("20020")
    for label, value in SECRETS.items():
        await form.get_by_label(label, exact=True).fill(value)
    await form.get_by_role("button", name="Add connection").click()
    await expect(page.get_by_role("heading", name="Browser store", exact=True)).to_be_visible()
    [made] = (await api.get("/api/v1/connections")).json()
    await expect(page).to_have_url(re.compile(f"/ui/connections/{made['id']}$"))
    assert (made["zoho"]["organization_id"], made["zoho"]["data_center"]) == ("20020", "eu")

    await page.get_by_role("navigation", name="Connection").get_by_role("link", name="Settings").click()
    await page.get_by_role("button", name="Stock only").click()
    await expect(page.get_by_role("status")).to_contain_text("Preset “Stock only” applied.")
    fields = page.get_by_role("group", name="Fields to sync")
    await expect(fields.get_by_label("stock", exact=True)).to_be_checked()
    await expect(fields.get_by_label("low_stock", exact=True)).to_be_checked()
    await expect(fields.get_by_label("price", exact=True)).not_to_be_checked()
    await expect(page.get_by_label("Create products missing from the store")).not_to_be_checked()
    settings = (await api.get(f"/api/v1/connections/{made['id']}")).json()["settings"]
    assert settings["sync_fields"] == ["stock", "low_stock"] and settings["create_missing_products"] is False
    await shot(page, "console-settings.png")
