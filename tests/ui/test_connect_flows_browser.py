"""The connect flows' refusals and edges in a real browser (issue 13's list; the happy paths are
in test_connect_zoho_browser.py and test_store_access_browser.py): a tampered and a replayed
Zoho callback, a second data centre, reconnecting revokes the old token, a refresh token Zoho
refuses; the store's Deny, a key the callback refuses (deleted in the store), and WordPress's
application password rejected then approved.

One service on its own port serves them all: PUBLIC_BASE_URL is its address (the vendors send
the browser, and the store posts its key, there), consent starts at the Zoho simulator, and a
second Zoho simulator plays another data centre's accounts server, trusted by the deployment.

Each test is one page going through several steps. The vendor's answer is captured on its way
to the callback (`hold_callback`) when a step needs the URL itself, so the test can visit it
tampered, then as it was, then again.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Page, Route, expect
from pydantic import SecretStr

from app.connections.service import credentials_of
from app.models import Connection
from simulators.server import ServerThread
from simulators.zoho import DEMO_CREDENTIALS as DEMO
from simulators.zoho import ZohoState
from simulators.zoho.app import create_app as create_zoho_app
from tests.helpers import create_connection, service_on_own_port, sim
from tests.ui.browser import open_status, shot, sign_in

pytestmark = pytest.mark.timeout(120)
EXPECT_MS = 15_000  # a flow crosses three servers; the machine may be busy


@pytest.fixture(scope="module")
def second_dc():
    """Another data centre's accounts server and API: its own organization, location "eu"."""
    state = ZohoState(organization_id="20000001", organization_name="EU Org")
    state.update_knobs({"oauth_location": "eu", "rate_limit_per_minute": None})
    server = ServerThread(create_zoho_app(state)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def service(settings, database, zoho_server, second_dc):
    """The service on a port it knows, with the deployment's Zoho OAuth client, consent starting
    at the simulator and the second data centre on the allowlist."""
    with service_on_own_port(settings, zoho_accounts_url=zoho_server.base_url, zoho_client_id=DEMO.client_id,
                             zoho_client_secret=SecretStr(DEMO.client_secret),
                             zoho_trusted_origins=second_dc.base_url) as server:
        yield server


@asynccontextmanager
async def hold_callback(page: Page, answer_path: str) -> AsyncIterator[list[str]]:
    """The vendor's next answer at `answer_path` (a redirect to our callback) is fetched aside
    and kept from the browser: the callback's URL is yielded (in a list filled once the answer
    came). Playwright does not route the requests a redirect makes, so the answer is held."""
    held: list[str] = []
    pattern = re.compile(re.escape(answer_path))

    async def hold(route: Route) -> None:
        answer = await route.fetch(max_redirects=0)
        held.append(answer.headers["location"])
        await route.fulfill(status=200, content_type="text/html", body="<p id=held>held</p>")

    await page.route(pattern, hold)
    try:
        yield held
        await expect(page.locator("#held")).to_be_visible(timeout=EXPECT_MS)
    finally:
        await page.unroute(pattern)


async def new_unlinked(page: Page, store_url: str) -> str:
    """"Link by signing in": a connection with a name and a store URL; its id."""
    await page.get_by_role("link", name="Link by signing in").click()
    await page.get_by_label("Name").fill("Signed-in store")
    await page.get_by_label("Store URL").fill(store_url)
    await page.get_by_role("button", name="Create and link").click()
    await expect(page.locator("#zoho-state")).to_have_text("Not linked")
    return re.search(r"/ui/connections/([0-9a-f-]+)/zoho", page.url).group(1)


async def zoho_of(api, connection_id: str) -> dict:
    return (await api.get(f"/api/v1/connections/{connection_id}")).json()["zoho"]


async def credentials(ctx, connection_id: str) -> dict:
    async with ctx.sessionmaker() as db:
        return credentials_of(await db.get(Connection, connection_id), keyring=ctx.keyring)


async def test_a_tampered_then_a_replayed_zoho_callback_and_reconnect_revokes(page, api, zoho, woo_server):
    await sign_in(page)
    connection_id = await new_unlinked(page, woo_server.base_url)
    await page.get_by_role("button", name="Connect Zoho", exact=True).click()
    async with hold_callback(page, "/oauth/v2/auth/approve") as held:
        await page.get_by_role("button", name="Accept").click()
    callback = held[0]

    # Wrong state: shown clearly, nothing exchanged, nothing linked.
    await page.goto(re.sub(r"state=[^&]+", "state=not-ours", callback))
    await expect(page).to_have_url(re.compile(r"/ui/zoho/signin\?result=invalid$"), timeout=EXPECT_MS)
    await expect(page.get_by_role("alert")).to_contain_text("the state does not match. Nothing was changed.")
    assert (await zoho_of(api, connection_id))["linked"] is False and zoho.stats()["codes_exchanged"] == 0

    # The answer as Zoho sent it links the connection ...
    await page.goto(callback)
    await expect(page.get_by_role("status")).to_contain_text("Zoho is linked.", timeout=EXPECT_MS)
    await expect(page.locator("#zoho-state")).to_have_text("Linked")
    first_token = next(iter(set(zoho.refresh_tokens) - {DEMO.refresh_token}))
    # ... once: the same URL again is refused as already used and changes nothing.
    await page.goto(callback)
    await expect(page).to_have_url(re.compile(r"/ui/zoho/signin\?result=replayed$"), timeout=EXPECT_MS)
    await expect(page.get_by_role("alert")).to_contain_text("already used. Nothing was changed")
    assert zoho.stats()["codes_exchanged"] == 1 and (await zoho_of(api, connection_id))["linked"] is True
    await shot(page, "console-connect-zoho-replayed.png")

    # Reconnect: the token the connection held is revoked at Zoho before the new one is kept.
    await page.get_by_role("link", name="Back to the connections").click()
    await page.get_by_role("link", name="Signed-in store").click()
    await page.get_by_role("link", name="Zoho sign-in").click()
    await expect(page.locator("#zoho-state")).to_have_text("Linked")
    await page.get_by_role("button", name="Reconnect Zoho", exact=True).click()
    await page.get_by_role("button", name="Accept").click()
    await expect(page.get_by_role("status")).to_contain_text("Zoho is linked.", timeout=EXPECT_MS)
    assert first_token not in zoho.refresh_tokens
    assert zoho.stats()["requests"]["POST /oauth/v2/token/revoke"] == 1
    assert len(set(zoho.refresh_tokens) - {DEMO.refresh_token}) == 1 and zoho.stats()["codes_exchanged"] == 2


async def test_connect_zoho_in_a_second_data_centre(page, api, zoho, woo_server, zoho_server, second_dc):
    """Consent starts at the deployment's accounts server, which moves the user to their own
    data centre; the code is exchanged there, and there only."""
    zoho.update_knobs({"oauth_home_dc": second_dc.base_url})
    dc2 = second_dc.app.state.zoho
    await sign_in(page)
    connection_id = await new_unlinked(page, woo_server.base_url)
    await page.get_by_role("button", name="Connect Zoho", exact=True).click()
    await expect(page).to_have_url(re.compile(f"^{re.escape(second_dc.base_url)}/oauth/v2/auth\\?"))
    await page.get_by_role("button", name="Accept").click()

    await expect(page.get_by_role("status")).to_contain_text("Zoho is linked.", timeout=EXPECT_MS)
    await expect(page.locator("#zoho-state")).to_have_text("Linked")
    await expect(page.get_by_text(f"eu ({second_dc.base_url})")).to_be_visible()
    await shot(page, "console-connect-zoho-second-dc.png")
    assert dc2.stats()["requests"]["POST /oauth/v2/token"] == 1 and dc2.stats()["codes_exchanged"] == 1
    assert zoho.stats()["requests"].get("POST /oauth/v2/token") is None and zoho.stats()["codes_exchanged"] == 0
    linked = await zoho_of(api, connection_id)
    assert (linked["accounts_base_url"], linked["api_base_url"]) == (second_dc.base_url, second_dc.base_url)
    assert linked["data_center"] == "eu" and linked["organization_id"] == "20000001"


async def test_a_refused_refresh_token_needs_reconnect_and_shows_the_banner(page, api, zoho, store, zoho_server,
                                                                            woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    assert zoho.revoke_token(DEMO.refresh_token)  # revoked at Zoho: the next refresh is refused
    await sign_in(page)
    await open_status(page, conn["id"])
    await expect(page.get_by_role("alert")).to_have_count(0)
    await page.get_by_role("button", name="Test connection", exact=True).click()

    token = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="zoho.token"))
    await expect(token).to_contain_text("Failed", timeout=EXPECT_MS)
    await expect(token).to_contain_text("Reconnect Zoho")
    await page.get_by_role("link", name="Test store").click()
    banner = page.get_by_role("alert")
    await expect(banner).to_contain_text("Zoho needs reconnecting")
    await expect(banner).to_contain_text("invalid_code")
    assert (await banner.inner_text()).count("Zoho refused the refresh token") == 1  # said once, not twice
    await expect(banner.get_by_role("button", name="Reconnect Zoho")).to_be_visible()
    await expect(page.get_by_role("button", name="Start sync", exact=True)).to_be_disabled()
    await shot(page, "console-needs-reconnect.png")
    read = (await api.get(f"/api/v1/connections/{conn['id']}")).json()
    assert read["needs_reconnect"] is True and "invalid_code" in read["zoho"]["reconnect_reason"]
    assert (await api.post(f"/api/v1/connections/{conn['id']}/syncs")).status_code == 409


async def test_connect_store_deny_and_a_key_the_callback_refuses_is_deleted(page, api, ctx, zoho, store,
                                                                           zoho_server, woo_server):
    sim(woo_server.base_url, "PUT", "/config", json={"connect_http_callbacks": True})
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    keys_before = {k["key_id"] for k in sim(woo_server.base_url, "GET", "/keys")}
    await sign_in(page)
    await open_status(page, conn["id"])

    await page.get_by_role("button", name="Connect store", exact=True).click()
    await page.get_by_role("link", name="Deny").click()
    await expect(page).to_have_url(re.compile(f"/ui/connections/{conn['id']}\\?notice="), timeout=EXPECT_MS)
    await expect(page.get_by_role("alert")).to_contain_text("denied access in WooCommerce: nothing changed")

    # The grant's key comes read-only (the scope altered on the way): the callback answers 403,
    # so WooCommerce deletes the key and shows its own refusal.
    sim(woo_server.base_url, "PUT", "/config", json={"connect_key_permissions": "read"})
    await page.get_by_role("button", name="Connect store", exact=True).click()
    await page.get_by_role("link", name="Approve").click()
    await expect(page.get_by_text("unable to send the consumer data")).to_be_visible(timeout=EXPECT_MS)
    await shot(page, "console-connect-store-refused-key.png")
    assert store.knobs.connect_key_permissions == "read"
    assert {k["key_id"] for k in sim(woo_server.base_url, "GET", "/keys")} == keys_before  # made, refused, deleted
    assert (await credentials(ctx, conn["id"]))["consumer_key"] == "ck_demo"


async def test_media_uploads_reject_then_approve_and_the_media_check_passes(page, api, ctx, zoho, store,
                                                                           zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    patched = await api.patch(f"/api/v1/connections/{conn['id']}",
                              json={"woocommerce": {"wp_application_password": "old"}})
    assert patched.status_code == 200, patched.text
    await sign_in(page)
    await open_status(page, conn["id"])
    await page.get_by_role("button", name="Test connection", exact=True).click()
    media = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="store.media"))
    await expect(media).to_contain_text("Failed", timeout=EXPECT_MS)  # the password it holds is no good
    await page.get_by_role("link", name="Test store").click()

    await page.get_by_role("button", name="Connect media uploads", exact=True).click()
    await page.get_by_role("button", name="No, I do not approve of this connection").click()
    await expect(page.get_by_role("alert")).to_contain_text("not approved in WordPress: nothing changed",
                                                            timeout=EXPECT_MS)
    assert (await credentials(ctx, conn["id"]))["wp_application_password"] == "old"

    await page.get_by_role("button", name="Connect media uploads", exact=True).click()
    await expect(page.get_by_role("heading", name="Authorize Application")).to_be_visible()
    await page.get_by_role("button", name="Yes, I approve of this connection").click()
    await expect(page.get_by_role("status").filter(has_text="Media uploads are connected")).to_be_visible(
        timeout=EXPECT_MS)
    stored = await credentials(ctx, conn["id"])
    assert stored["wp_username"] == "admin" and stored["wp_application_password"] not in ("old", "")

    await page.get_by_role("button", name="Test connection", exact=True).click()
    await expect(media).to_contain_text("Passed", timeout=EXPECT_MS)
    await shot(page, "console-connect-media.png")

