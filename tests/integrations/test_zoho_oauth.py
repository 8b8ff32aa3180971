"""Zoho's sign-in pieces on their own: the accounts-server and API-domain allowlist (every data
centre, Canada's different hosts), the data centre of a callback's `location`, and a refused
refresh token telling the engine that only a reconnect helps."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.integrations.zoho.errors import ZohoAuthError
from app.integrations.zoho.oauth import SCOPES, Allowlist, authorize_url, data_center_of
from app.integrations.zoho.tokens import TokenManager
from app.ports.errors import ReconnectNeeded

ZOHO_ONLY = Allowlist.of(accounts_url="https://accounts.zoho.com", trusted_origins="")


@pytest.mark.parametrize("server", [
    "https://accounts.zoho.com", "https://accounts.zoho.eu", "https://accounts.zoho.in",
    "https://accounts.zoho.com.au", "https://accounts.zoho.jp", "https://accounts.zohocloud.ca",
    "https://accounts.zoho.com.cn", "https://accounts.zoho.sa", "https://accounts.zoho.uk",
    "https://ACCOUNTS.ZOHO.EU/", "https://accounts.zoho.eu:443",
])
def test_every_zoho_accounts_server_is_allowed(server: str) -> None:
    assert ZOHO_ONLY.accounts_server(server) is not None


@pytest.mark.parametrize("server", [
    "https://accounts.zoho.ca",  # Canada's accounts server is zohocloud.ca
    "http://accounts.zoho.com",  # not over TLS
    "https://accounts.zoho.com.evil.example", "https://evil.example/accounts.zoho.com",
    "https://accounts.zoho.com:8443", "javascript:alert(1)", "", None,
])
def test_anything_else_is_refused(server: str | None) -> None:
    assert ZOHO_ONLY.accounts_server(server) is None


def test_trusted_origins_and_the_consent_url_admit_more() -> None:
    allow = Allowlist.of(accounts_url="http://127.0.0.1:8101", trusted_origins=" http://127.0.0.1:8201 ,")
    assert allow.accounts_server("http://127.0.0.1:8101") == "http://127.0.0.1:8101"
    assert allow.accounts_server("http://127.0.0.1:8201/") == "http://127.0.0.1:8201"
    assert allow.accounts_server("http://127.0.0.1:8301") is None
    assert allow.api_domain("http://127.0.0.1:8201") == "http://127.0.0.1:8201"


def test_api_domains_are_zohos_own() -> None:
    assert ZOHO_ONLY.api_domain("https://www.zohoapis.ca") == "https://www.zohoapis.ca"
    assert ZOHO_ONLY.api_domain("https://www.zohoapis.com.au") == "https://www.zohoapis.com.au"
    assert ZOHO_ONLY.api_domain("https://www.zohocloud.ca") is None
    assert ZOHO_ONLY.api_domain("https://attacker.example") is None


@pytest.mark.parametrize(("location", "server", "expected"), [
    ("us", "https://accounts.zoho.com", "com"), ("eu", "https://accounts.zoho.eu", "eu"),
    ("ca", "https://accounts.zohocloud.ca", "ca"), ("au", "https://accounts.zoho.com.au", "com.au"),
    (None, "https://accounts.zohocloud.ca", "ca"), ("mars", "http://127.0.0.1:8101", "com"),
])
def test_the_data_centre_follows_location_then_the_server(location: str | None, server: str, expected: str) -> None:
    assert data_center_of(location, server) == expected


def test_the_consent_url_asks_for_an_offline_grant_with_the_scopes() -> None:
    url = authorize_url("https://accounts.zoho.com/", client_id="1000.X", redirect_uri="https://sb.example/cb",
                        state="st")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://accounts.zoho.com/oauth/v2/auth"
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "scope": ",".join(SCOPES), "client_id": "1000.X", "response_type": "code", "access_type": "offline",
        "prompt": "consent", "redirect_uri": "https://sb.example/cb", "state": "st"}
    assert "ZohoInventory.items.READ" in SCOPES and "ZohoInventory.settings.READ" in SCOPES


@pytest.mark.parametrize(("error", "reconnect"), [("invalid_code", True), ("invalid_client", False)])
async def test_only_a_refused_refresh_token_asks_for_a_reconnect(ctx, error: str, reconnect: bool) -> None:
    calls = []

    def accounts(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"error": error})

    async with httpx.AsyncClient(transport=httpx.MockTransport(accounts)) as http:
        manager = TokenManager(redis=ctx.redis, http=http, accounts_url="http://accounts.test",
                               client_id=f"c-{uuid.uuid4().hex[:6]}", client_secret="s", refresh_token="r")
        for _ in range(2):  # the second is the remembered refusal, without asking Zoho again
            with pytest.raises(ZohoAuthError) as refused:
                await manager.get()
            assert isinstance(refused.value, ReconnectNeeded) is reconnect and refused.value.code == error
    assert len(calls) == 1
