"""The status page's start buttons follow the connection's link state live: a connection that
needs reconnecting while the page is open has Start sync, Verify store and Retry failed turned
off, with the reason next to them and as their description, and on again once it is connected
(no reload)."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import expect

from app.connections.links import mark_needs_reconnect
from app.models import Connection
from tests.helpers import create_connection
from tests.ui.browser import open_status, shot, sign_in, still_same_document

pytestmark = pytest.mark.timeout(60)
REASON = "Zoho needs reconnecting: syncs and previews start once it is."


async def test_the_start_buttons_turn_off_and_on_with_the_link_state(page, api, ctx, zoho, store, zoho_server,
                                                                    woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await sign_in(page)
    await open_status(page, conn["id"])
    start, verify = (page.get_by_role("button", name=name, exact=True) for name in ("Start sync", "Verify store"))
    await expect(start).to_be_enabled()
    await expect(page.locator("#run-blocked")).to_be_hidden()

    await mark_needs_reconnect(ctx, uuid.UUID(conn["id"]), "Zoho refused the refresh token (invalid_code)")
    await expect(start).to_be_disabled(timeout=10_000)
    await expect(verify).to_be_disabled()
    await expect(page.locator("#run-blocked")).to_have_text(REASON)
    await expect(start).to_have_accessible_description(REASON)
    await shot(page, "console-status-blocked.png")

    async with ctx.sessionmaker() as db:
        row = await db.get(Connection, conn["id"])
        row.zoho_reconnect_reason = row.zoho_reconnect_at = None
        await db.commit()
    await expect(start).to_be_enabled(timeout=10_000)
    await expect(page.locator("#run-blocked")).to_be_hidden()
    await expect(start).to_have_accessible_description("")
    assert await still_same_document(page)
