"""Linking Zoho by signing in, over HTTP: the console's "Connect Zoho", the simulator's consent
page, the callback and what the connection holds afterwards."""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from itsdangerous import TimestampSigner
from pydantic import SecretStr

from app.integrations.zoho.oauth import SCOPES
from simulators.server import ServerThread
from simulators.zoho import DEMO_CREDENTIALS as DEMO
from simulators.zoho import ZohoState
from simulators.zoho.app import create_app as create_zoho_app
from tests.helpers import create_connection
from tests.ui.console import sign_in


@pytest.fixture
def signin_settings(ctx, zoho_server, monkeypatch):
    """The deployment's OAuth client, consent starting at the simulator (which is then trusted,
    as ZOHO_ACCOUNTS_URL always is)."""
    for name, value in {"zoho_accounts_url": zoho_server.base_url, "zoho_client_id": DEMO.client_id,
                        "zoho_client_secret": SecretStr(DEMO.client_secret), "zoho_trusted_origins": ""}.items():
        monkeypatch.setattr(ctx.settings, name, value)
    return ctx.settings


@pytest.fixture
def second_dc():
    """Another data centre's accounts server and API: its own user, organization and location."""
    state = ZohoState(organization_id="20000001", organization_name="EU Org")
    state.update_knobs({"oauth_location": "eu", "rate_limit_per_minute": None})
    server = ServerThread(create_zoho_app(state)).start()
    yield server
    server.stop()


async def new_unlinked(console: httpx.AsyncClient, csrf: str, store_url: str) -> str:
    response = await console.post("/ui/link", data={"csrf": csrf, "name": "Signed-in store", "store_url": store_url,
                                                    "platform": "woocommerce"})
    assert response.status_code == 303, response.text
    return re.search(r"/ui/connections/([0-9a-f-]+)/zoho$", response.headers["location"]).group(1)


async def start_connect(console: httpx.AsyncClient, csrf: str, connection_id: str) -> str:
    response = await console.post(f"/ui/connections/{connection_id}/connect/zoho", data={"csrf": csrf})
    assert response.status_code == 303, response.text
    return response.headers["location"]


async def consent(auth_url: str, choice: str = "approve") -> str:
    """Zoho's side in the browser: the consent page (following a move to another data centre),
    then Accept or Deny; the path and query the browser is sent back to."""
    async with httpx.AsyncClient(follow_redirects=True) as browser:
        page = await browser.get(auth_url)
        assert page.status_code == 200 and "Accept" in page.text, page.text
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
        fields = {k: v.replace("&amp;", "&") for k, v in fields.items()}
        answer = await browser.post(f"{page.url.scheme}://{page.url.netloc.decode()}/oauth/v2/auth/{choice}",
                                    data=fields, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    assert back.path == "/oauth/zoho/callback"
    return f"{back.path}?{back.query}"


async def come_back(console: httpx.AsyncClient, callback: str) -> str:
    """The callback's answer: the `result` its continue page moves on to."""
    response = await console.get(callback)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    target = re.search(r'url=([^"]+)"', response.text).group(1).replace("&amp;", "&")
    return parse_qs(urlsplit(target).query)["result"][0]


async def read_connection(api: httpx.AsyncClient, connection_id: str) -> dict:
    return (await api.get(f"/api/v1/connections/{connection_id}")).json()


async def test_connect_zoho_links_the_connection(console, api, zoho, store, woo_server, zoho_server,
                                                 signin_settings):
    csrf = await sign_in(console)
    connection_id = await new_unlinked(console, csrf, woo_server.base_url)
    before = await read_connection(api, connection_id)
    assert before["zoho"]["linked"] is False and before["zoho"]["organization_id"] is None
    assert before["woocommerce"]["linked"] is False and before["linked"] is False
    refused = await api.post(f"/api/v1/connections/{connection_id}/syncs")
    assert refused.status_code == 409 and "Zoho is not linked" in refused.json()["detail"]

    auth_url = await start_connect(console, csrf, connection_id)
    query = parse_qs(urlsplit(auth_url).query)
    assert auth_url.startswith(f"{zoho_server.base_url}/oauth/v2/auth?")
    assert query["scope"] == [",".join(SCOPES)] and query["client_id"] == [DEMO.client_id]
    assert query["response_type"] == ["code"] and query["access_type"] == ["offline"]
    assert query["prompt"] == ["consent"]
    assert query["redirect_uri"] == [f"{signin_settings.public_base_url}/oauth/zoho/callback"]

    assert await come_back(console, await consent(auth_url)) == "linked"
    linked = await read_connection(api, connection_id)
    assert linked["zoho"]["linked"] is True and linked["zoho"]["organization_id"] == DEMO.organization_id
    assert linked["zoho"]["accounts_base_url"] == zoho_server.base_url
    assert linked["zoho"]["api_base_url"] == zoho_server.base_url and linked["zoho"]["data_center"] == "com"
    assert linked["zoho"]["refresh_token"] == "**********" and zoho.stats()["codes_exchanged"] == 1
    page = await console.get(f"/ui/connections/{connection_id}/zoho?result=linked")
    assert "Zoho is linked." in page.text and 'id="zoho-state">Linked' in page.text


async def test_a_deny_and_bad_states_change_nothing(console, api, zoho, woo_server, signin_settings, monkeypatch):
    csrf = await sign_in(console)
    connection_id = await new_unlinked(console, csrf, woo_server.base_url)

    denied = await consent(await start_connect(console, csrf, connection_id), "deny")
    assert "error=access_denied" in denied
    assert await come_back(console, denied) == "denied"
    page = await console.get(f"/ui/connections/{connection_id}/zoho?result=denied")
    assert 'role="alert"' in page.text and "Zoho sign-in was denied" in page.text

    callback = await consent(await start_connect(console, csrf, connection_id))
    wrong = re.sub(r"state=[^&]+", "state=not-ours", callback)
    assert await come_back(console, wrong) == "invalid"
    page = await console.get("/ui/zoho/signin?result=invalid")
    assert "the state does not match" in page.text

    with monkeypatch.context() as later:  # the same answer, eleven minutes on
        later.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) + 660)
        assert await come_back(console, callback) == "expired"
    assert (await read_connection(api, connection_id))["zoho"]["linked"] is False
    assert zoho.stats()["codes_exchanged"] == 0

    assert await come_back(console, callback) == "linked"
    assert await come_back(console, callback) == "replayed"  # the state is single use
    assert zoho.stats()["codes_exchanged"] == 1


async def test_a_second_data_centre_exchanges_at_its_own_accounts_server(console, api, zoho, woo_server, zoho_server,
                                                                          second_dc, signin_settings, monkeypatch):
    """Consent starts at .com, Zoho moves the user to their data centre, which names itself in
    the callback: the code goes there, and there only once it is on the allowlist."""
    zoho.update_knobs({"oauth_home_dc": second_dc.base_url})
    dc2 = second_dc.app.state.zoho
    csrf = await sign_in(console)
    connection_id = await new_unlinked(console, csrf, woo_server.base_url)

    callback = await consent(await start_connect(console, csrf, connection_id))
    assert f"accounts-server={second_dc.base_url.replace(':', '%3A').replace('/', '%2F')}" in callback
    assert await come_back(console, callback) == "untrusted_server"  # not configured: no secret sent
    assert dc2.stats()["requests"].get("POST /oauth/v2/token") is None
    assert (await read_connection(api, connection_id))["zoho"]["linked"] is False

    monkeypatch.setattr(signin_settings, "zoho_trusted_origins", f"https://example.invalid, {second_dc.base_url}")
    assert await come_back(console, await consent(await start_connect(console, csrf, connection_id))) == "linked"
    assert dc2.stats()["requests"]["POST /oauth/v2/token"] == 1 and dc2.stats()["codes_exchanged"] == 1
    assert zoho.stats()["requests"].get("POST /oauth/v2/token") is None
    linked = (await read_connection(api, connection_id))["zoho"]
    assert linked["accounts_base_url"] == second_dc.base_url and linked["api_base_url"] == second_dc.base_url
    assert linked["data_center"] == "eu" and linked["organization_id"] == "20000001"


async def test_several_organizations_are_picked_on_a_console_page(console, api, zoho, woo_server, signin_settings):
    zoho.update_knobs({"extra_organizations": [{"organization_id": "777", "name": "Second Org"}]})
    csrf = await sign_in(console)
    connection_id = await new_unlinked(console, csrf, woo_server.base_url)
    assert await come_back(console, await consent(await start_connect(console, csrf, connection_id))) == "pick"
    assert (await read_connection(api, connection_id))["zoho"]["linked"] is False  # not until one is picked

    page = await console.get(f"/ui/connections/{connection_id}/zoho?result=pick")
    assert "Second Org (777)" in page.text and "Skubridge Demo Org" in page.text
    stranger = await console.post(f"/ui/connections/{connection_id}/zoho/organization",
                                  data={"csrf": csrf, "organization_id": "999"})
    assert "notice=" in stranger.headers["location"]
    picked = await console.post(f"/ui/connections/{connection_id}/zoho/organization",
                                data={"csrf": csrf, "organization_id": DEMO.organization_id})
    assert picked.status_code == 303 and picked.headers["location"].endswith("?result=picked")
    zoho_read = (await read_connection(api, connection_id))["zoho"]
    assert zoho_read["linked"] is True and zoho_read["organization_id"] == DEMO.organization_id
    assert zoho_read["organization_name"] == "Skubridge Demo Org"


async def test_reconnecting_revokes_the_old_token_and_clears_needs_reconnect(console, api, zoho, store, woo_server,
                                                                             zoho_server, signin_settings, ctx):
    from app.connections.links import mark_needs_reconnect

    connection = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await mark_needs_reconnect(ctx, uuid.UUID(connection["id"]), "Zoho refused the refresh token (invalid_code)")
    marked = await read_connection(api, connection["id"])
    assert marked["needs_reconnect"] is True and marked["zoho"]["reconnect_reason"].startswith("Zoho refused")
    assert DEMO.refresh_token in zoho.refresh_tokens

    csrf = await sign_in(console)
    status = await console.get(f"/ui/connections/{connection['id']}")
    assert 'role="alert"' in status.text and "Reconnect Zoho" in status.text
    assert await come_back(console, await consent(await start_connect(console, csrf, connection["id"]))) == "linked"
    assert DEMO.refresh_token not in zoho.refresh_tokens  # revoked at Zoho first
    assert zoho.stats()["requests"]["POST /oauth/v2/token/revoke"] == 1
    relinked = await read_connection(api, connection["id"])
    assert relinked["needs_reconnect"] is False and relinked["zoho"]["reconnect_reason"] is None
    assert relinked["zoho"]["linked"] is True
    assert "Reconnect Zoho" not in (await console.get(f"/ui/connections/{connection['id']}")).text


async def test_the_link_form_shows_problems_at_their_fields(console):
    csrf = await sign_in(console)
    response = await console.post("/ui/link", data={"csrf": csrf, "name": "", "store_url": "not a url",
                                                    "platform": "magento"})
    assert response.status_code == 422
    for field in ("name", "store_url", "platform"):
        assert f'id="link-{field}-error"' in response.text


async def test_without_an_oauth_client_connect_zoho_says_so(console, woo_server, monkeypatch, ctx):
    monkeypatch.setattr(ctx.settings, "zoho_client_id", "")
    csrf = await sign_in(console)
    connection_id = await new_unlinked(console, csrf, woo_server.base_url)
    location = await start_connect(console, csrf, connection_id)
    assert location.startswith(f"/ui/connections/{connection_id}/zoho?notice=")
    assert "ZOHO_CLIENT_ID" in (await console.get(location)).text


async def test_test_connection_of_a_refused_token_marks_needs_reconnect(api, zoho, store, zoho_server, woo_server):
    connection = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    assert zoho.revoke_token(DEMO.refresh_token)
    report = (await api.post(f"/api/v1/connections/{connection['id']}/test")).json()
    token = next(c for c in report["checks"] if c["name"] == "zoho.token")
    assert token["verdict"] == "failed" and "Reconnect Zoho" in token["hint"]
    read = await read_connection(api, connection["id"])
    assert read["needs_reconnect"] is True and "invalid_code" in read["zoho"]["reconnect_reason"]


async def test_test_connection_of_a_signed_in_connection_uses_the_deployments_client(console, api, zoho, store,
                                                                                      woo_server, signin_settings):
    csrf = await sign_in(console)
    connection_id = await new_unlinked(console, csrf, woo_server.base_url)
    assert await come_back(console, await consent(await start_connect(console, csrf, connection_id))) == "linked"
    report = (await api.post(f"/api/v1/connections/{connection_id}/test")).json()
    assert [c["verdict"] for c in report["checks"] if c["name"].startswith("zoho.")] == ["passed"] * 3
