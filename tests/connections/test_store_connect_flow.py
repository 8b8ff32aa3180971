"""The store's connect flows end to end: the console starts them, the store simulator grants
(or refuses), the service on a real port receives the key POST and the browser's returns.
A browser-like httpx client keeps the console's and the flow's cookies."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.connections.service import credentials_of
from app.models import Connection
from tests.helpers import create_connection, service_on_own_port, sim


@pytest.fixture(scope="module")
def linked(settings, database):
    """The service on a port whose PUBLIC_BASE_URL is its own address."""
    with service_on_own_port(settings) as server:
        yield server


@pytest.fixture
async def browser(linked, ctx):
    async for key in ctx.redis.scan_iter("skubridge:console:*"):
        await ctx.redis.delete(key)
    async with httpx.AsyncClient(base_url=linked.base_url, timeout=30) as client:
        response = await client.post("/ui/login", data={"token": "test-token"})
        assert response.status_code == 303
        page = await client.get("/ui/")
        client.csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[attr-defined]
        yield client


@pytest.fixture
def woo(store, woo_server):
    sim(woo_server.base_url, "PUT", "/config", json={"connect_http_callbacks": True})
    return woo_server.base_url


async def credentials(ctx, connection_id: str) -> dict:
    async with ctx.sessionmaker() as db:
        return credentials_of(await db.get(Connection, connection_id), keyring=ctx.keyring)


async def start(browser, connection_id: str, what: str) -> str:
    response = await browser.post(f"/ui/connections/{connection_id}/connect/{what}", data={"csrf": browser.csrf})
    assert response.status_code == 303, response.text
    return response.headers["location"]


def link(page: str, label: str) -> str:
    return unescape(re.search(rf'<a href="([^"]+)"[^>]*>{label}</a>', page).group(1))


def wp_form(page: str) -> dict[str, str]:
    """The hidden fields of WordPress's authorize form (the buttons say approve or reject)."""
    return {unescape(n): unescape(v) for n, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page)}


async def status_notice(browser, continue_page: httpx.Response) -> str:
    """Follow the continue page to the status page; its success line or notice."""
    target = unescape(re.search(r'url=([^"]+)"', continue_page.text).group(1))
    page = await browser.get(target)
    assert page.status_code == 200
    found = re.search(r'<p class="(?:ok|error)" role="(?:status|alert)">([^<]+)</p>', page.text)
    return unescape(found.group(1))


async def test_connect_store_approve_stores_a_working_key(api, ctx, browser, zoho, zoho_server, woo, linked):
    conn = await create_connection(api, zoho_server.base_url, woo)
    # A connection linked by signing in may have no store key yet.
    async with ctx.sessionmaker() as db:
        row = await db.get(Connection, conn["id"])
        creds = {k: v for k, v in credentials_of(row, keyring=ctx.keyring).items() if not k.startswith("consumer_")}
        row.credentials = ctx.keyring.seal(creds, connection_id=row.id, purpose="credentials")
        await db.commit()
    assert (await api.post(f"/api/v1/connections/{conn['id']}/test")).json()["checks"][3]["verdict"] == "failed"

    authorize = await start(browser, conn["id"], "store")
    assert authorize.startswith(f"{woo}/wc-auth/v1/authorize?")
    query = parse_qs(urlsplit(authorize).query)
    assert query["scope"] == ["read_write"] and query["app_name"] == ["skubridge"]
    assert query["callback_url"] == [f"{linked.base_url}/oauth/woocommerce/callback"]
    assert query["return_url"] == [f"{linked.base_url}/oauth/woocommerce/return"]
    grant = await browser.get(link((await browser.get(authorize)).text, "Approve"))
    assert grant.status_code == 302
    back = await browser.get(grant.headers["location"])

    assert await status_notice(browser, back) == "The store is connected: its API key is stored."
    newest = max(sim(woo, "GET", "/keys"), key=lambda k: k["key_id"])
    stored = await credentials(ctx, conn["id"])
    assert stored["consumer_key"] == newest["consumer_key"] and newest["permissions"] == "read_write"
    checks = (await api.post(f"/api/v1/connections/{conn['id']}/test")).json()["checks"]
    assert [c["verdict"] for c in checks if c["name"].startswith("store.")] == ["passed"] * 3

    # Connecting again replaces the key.
    grant = await browser.get(link((await browser.get(await start(browser, conn["id"], "store"))).text, "Approve"))
    await browser.get(grant.headers["location"])
    assert (await credentials(ctx, conn["id"]))["consumer_key"] != stored["consumer_key"]


async def test_deny_is_shown_and_changes_nothing(api, ctx, browser, zoho, zoho_server, woo):
    conn = await create_connection(api, zoho_server.base_url, woo)
    page = await browser.get(await start(browser, conn["id"], "store"))
    denied = await browser.get(link(page.text, "Deny"))

    assert "denied access" in await status_notice(browser, denied)
    assert (await credentials(ctx, conn["id"]))["consumer_key"] == "ck_demo"


async def test_a_key_the_callback_refuses_is_deleted_in_the_store(api, ctx, browser, zoho, zoho_server, woo):
    sim(woo, "PUT", "/config", json={"connect_key_permissions": "read"})  # the scope was altered on the way
    conn = await create_connection(api, zoho_server.base_url, woo)
    before = {k["key_id"] for k in sim(woo, "GET", "/keys")}
    page = await browser.get(await start(browser, conn["id"], "store"))
    answer = await browser.get(link(page.text, "Approve"))

    assert answer.status_code == 401 and "unable to send the consumer data" in answer.text
    assert {k["key_id"] for k in sim(woo, "GET", "/keys")} == before  # made, refused, deleted
    assert (await credentials(ctx, conn["id"]))["consumer_key"] == "ck_demo"


async def test_a_bad_or_replayed_state_is_refused_and_nothing_stored(api, ctx, browser, zoho, zoho_server, woo,
                                                                     linked):
    conn = await create_connection(api, zoho_server.base_url, woo)
    key = {"key_id": 1, "consumer_key": "ck_posted", "consumer_secret": "cs_posted", "key_permissions": "read_write"}
    callback = f"{linked.base_url}/oauth/woocommerce/callback"
    async with httpx.AsyncClient() as vendor:
        forged = await vendor.post(callback, json={**key, "user_id": "forged"})
        assert forged.status_code == 400 and forged.json()["error"] == "FlowRefused"
        assert (await credentials(ctx, conn["id"]))["consumer_key"] == "ck_demo"

        state = parse_qs(urlsplit(await start(browser, conn["id"], "store")).query)["user_id"][0]
        assert (await vendor.post(callback, json={**key, "user_id": state})).status_code == 200
        replayed = await vendor.post(callback, json={**key, "consumer_key": "ck_again", "user_id": state})
        assert replayed.status_code == 400 and "already used" in replayed.json()["detail"]
        assert (await vendor.post(callback, content=b"not json")).status_code == 400
    assert (await credentials(ctx, conn["id"]))["consumer_key"] == "ck_posted"


async def test_media_uploads_approve_stores_the_application_password(api, ctx, browser, zoho, zoho_server, woo,
                                                                     linked):
    conn = await create_connection(api, zoho_server.base_url, woo)
    await api.patch(f"/api/v1/connections/{conn['id']}", json={"woocommerce": {"wp_application_password": "old"}})
    authorize = await start(browser, conn["id"], "media")
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert authorize.startswith(f"{woo}/wp-admin/authorize-application.php?")
    assert query["app_id"] == "4f0b6a4e-3c1d-4e52-9a3b-6d2f8c7e1a90"
    assert query["success_url"].startswith(f"{linked.base_url}/oauth/wordpress/callback?state=")
    page = await browser.get(authorize)
    form = wp_form(page.text)
    approved = await browser.post(f"{woo}/wp-admin/authorize-application.php", data={**form, "approve": "1"})
    assert approved.status_code == 302

    # Another browser cannot use the return.
    async with httpx.AsyncClient() as stranger:
        refused = await stranger.get(approved.headers["location"])
        assert refused.status_code == 400 and "another browser" in refused.text
    back = await browser.get(approved.headers["location"])

    assert "Media uploads are connected" in await status_notice(browser, back)
    stored = await credentials(ctx, conn["id"])
    assert stored["wp_username"] == "admin" and stored["wp_application_password"] not in ("old", "")
    checks = (await api.post(f"/api/v1/connections/{conn['id']}/test")).json()["checks"]
    assert checks[5] == {**checks[5], "name": "store.media", "verdict": "passed"}
    replayed = await browser.get(approved.headers["location"])
    assert replayed.status_code == 400 and "already used" in unescape(replayed.text)


async def test_media_uploads_reject_is_shown(api, ctx, browser, zoho, zoho_server, woo):
    conn = await create_connection(api, zoho_server.base_url, woo)
    page = await browser.get(await start(browser, conn["id"], "media"))
    form = wp_form(page.text)
    rejected = await browser.post(f"{woo}/wp-admin/authorize-application.php", data={**form, "reject": "1"})
    back = await browser.get(rejected.headers["location"])

    assert "not approved" in await status_notice(browser, back)
    assert (await credentials(ctx, conn["id"]))["wp_application_password"] == "demo demo demo demo demo demo"


async def test_the_status_page_says_when_one_click_cannot_work(api, browser, zoho, zoho_server, woo):
    conn = await create_connection(api, zoho_server.base_url, woo)
    page = (await browser.get(f"/ui/connections/{conn['id']}")).text
    assert "Connect store may not work from this deployment" in page
    assert "is not an https:// address: WooCommerce sends the key only to an https:// callback" in unescape(page)
    assert "is not a public address" in page
    assert "Paste a key by hand" in page
    pasted = await browser.post(f"/ui/connections/{conn['id']}/connect/keys",
                                data={"csrf": browser.csrf, "consumer_key": "ck_hand", "consumer_secret": "cs_hand"})
    assert pasted.status_code == 303 and pasted.headers["location"].endswith("?linked=keys")
    bad = await browser.post(f"/ui/connections/{conn['id']}/connect/keys",
                             data={"csrf": browser.csrf, "consumer_key": "hand", "consumer_secret": ""})
    assert "notice=" in bad.headers["location"]
    missing_csrf = await browser.post(f"/ui/connections/{conn['id']}/connect/store", data={})
    assert missing_csrf.status_code == 403
