"""The Zoho simulator's sign-in over real HTTP: the consent page, the code exchange (2-minute,
single-use codes), the 20-refresh-token cap, revocation, GET /organizations and the move to
another data centre."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from simulators.server import ServerThread
from simulators.zoho.app import create_app
from simulators.zoho.catalogue import DEMO_CREDENTIALS as CREDS
from simulators.zoho.state import ZohoState

REDIRECT = "https://skubridge.example/oauth/zoho/callback"
AUTH = {"client_id": CREDS.client_id, "response_type": "code", "redirect_uri": REDIRECT, "state": "s-1",
        "scope": "ZohoInventory.items.READ,ZohoInventory.settings.READ", "access_type": "offline",
        "prompt": "consent"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def server(clock: Clock) -> Iterator[ServerThread]:
    thread = ServerThread(create_app(ZohoState(clock=clock))).start()
    yield thread
    thread.stop()


@pytest.fixture
def http(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        client.post("/__sim__/reset").raise_for_status()
        client.put("/__sim__/config", json={"rate_limit_per_minute": None}).raise_for_status()
        yield client


def approve(http: httpx.Client, **overrides: str) -> dict[str, str]:
    """Accept on the consent page; the callback's query."""
    page = http.get("/oauth/v2/auth", params=AUTH | overrides)
    assert page.status_code == 200 and "Deny" in page.text
    answer = http.post("/oauth/v2/auth/approve", data=AUTH | overrides)
    assert answer.status_code == 302
    target = urlsplit(answer.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == (AUTH | overrides)["redirect_uri"]
    return {k: v[0] for k, v in parse_qs(target.query).items()}


def exchange(http: httpx.Client, code: str, **overrides: str) -> dict:
    form = {"client_id": CREDS.client_id, "client_secret": CREDS.client_secret, "grant_type": "authorization_code",
            "code": code, "redirect_uri": REDIRECT} | overrides
    response = http.post("/oauth/v2/token", data=form)
    assert response.status_code == 200
    return response.json()


def test_approve_redirects_with_code_location_and_accounts_server(http: httpx.Client, server: ServerThread) -> None:
    back = approve(http)
    assert set(back) == {"code", "location", "accounts-server", "state"}
    assert back["location"] == "us" and back["accounts-server"] == server.base_url and back["state"] == "s-1"
    tokens = exchange(http, back["code"])
    assert tokens["refresh_token"].startswith("1000.") and tokens["api_domain"] == server.base_url
    orgs = http.get("/inventory/v1/organizations", headers={"Authorization": f"Zoho-oauthtoken {tokens['access_token']}"})
    assert orgs.status_code == 200
    assert [o["organization_id"] for o in orgs.json()["organizations"]] == [CREDS.organization_id]
    refreshed = http.post("/oauth/v2/token", data={"client_id": CREDS.client_id, "client_secret": CREDS.client_secret,
                                                   "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert "access_token" in refreshed.json() and "refresh_token" not in refreshed.json()


def test_deny_redirects_with_access_denied(http: httpx.Client) -> None:
    answer = http.post("/oauth/v2/auth/deny", data=AUTH)
    assert answer.status_code == 302
    assert parse_qs(urlsplit(answer.headers["location"]).query) == {"error": ["access_denied"], "state": ["s-1"]}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"client_id": "1000.UNKNOWN"}, "Invalid Client"),
    ({"response_type": "token"}, "Invalid response_type"),
    ({"redirect_uri": "javascript:alert(1)"}, "Invalid Redirect Uri"),
    ({"scope": "everything"}, "Invalid OAuth Scope"),
])
def test_a_bad_consent_request_is_an_error_page_not_a_redirect(http: httpx.Client, overrides: dict,
                                                                message: str) -> None:
    for response in (http.get("/oauth/v2/auth", params=AUTH | overrides),
                     http.post("/oauth/v2/auth/approve", data=AUTH | overrides)):
        assert response.status_code == 400 and message in response.text


def test_registered_redirect_uris_must_match_exactly(http: httpx.Client) -> None:
    http.put("/__sim__/config", json={"redirect_uris": [REDIRECT]}).raise_for_status()
    assert http.get("/oauth/v2/auth", params=AUTH | {"redirect_uri": REDIRECT + "/x"}).status_code == 400
    assert http.get("/oauth/v2/auth", params=AUTH).status_code == 200


def test_codes_are_single_use_short_lived_and_bound_to_client_and_redirect(http: httpx.Client, clock: Clock) -> None:
    code = approve(http)["code"]
    assert exchange(http, code, client_secret="wrong") == {"error": "invalid_client"}
    assert "refresh_token" in exchange(http, code)
    assert exchange(http, code) == {"error": "invalid_code"}  # used
    assert exchange(http, approve(http)["code"], redirect_uri=REDIRECT + "/other") == {"error": "invalid_redirect_uri"}
    late = approve(http)["code"]
    clock.now += 121
    assert exchange(http, late) == {"error": "invalid_code"}  # two minutes
    assert http.get("/__sim__/stats").json()["codes_exchanged"] == 1


def test_the_21st_refresh_token_silently_invalidates_the_oldest(http: httpx.Client) -> None:
    tokens = [exchange(http, approve(http)["code"])["refresh_token"] for _ in range(21)]

    def refresh(token: str) -> dict:
        return http.post("/oauth/v2/token", data={"client_id": CREDS.client_id, "client_secret": CREDS.client_secret,
                                                  "grant_type": "refresh_token", "refresh_token": token}).json()

    assert refresh(tokens[0]) == {"error": "invalid_code"}
    assert "access_token" in refresh(tokens[1]) and "access_token" in refresh(tokens[20])
    # The demo token, issued by no sign-in, is not counted against the cap.
    assert "access_token" in refresh(CREDS.refresh_token)


def test_revoke_answers_success_then_400(http: httpx.Client) -> None:
    token = exchange(http, approve(http)["code"])["refresh_token"]
    assert http.post("/oauth/v2/token/revoke", params={"token": token}).json() == {"status": "success"}
    assert http.post("/oauth/v2/token/revoke", params={"token": token}).status_code == 400


def test_extra_organizations_are_listed(http: httpx.Client) -> None:
    http.put("/__sim__/config", json={"extra_organizations": [{"organization_id": "55", "name": "B"}]}).raise_for_status()
    token = exchange(http, approve(http)["code"])["access_token"]
    orgs = http.get("/inventory/v1/organizations", headers={"Authorization": f"Zoho-oauthtoken {token}"}).json()
    assert [(o["organization_id"], o["is_default_org"]) for o in orgs["organizations"]] == [
        (CREDS.organization_id, True), ("55", False)]
    assert http.get("/inventory/v1/organizations").status_code == 401  # still needs a token


def test_consent_moves_to_the_users_own_data_centre(http: httpx.Client) -> None:
    home_state = ZohoState(organization_id="99")
    home_state.update_knobs({"oauth_location": "eu"})
    home = ServerThread(create_app(home_state)).start()
    try:
        http.put("/__sim__/config", json={"oauth_home_dc": home.base_url}).raise_for_status()
        moved = http.get("/oauth/v2/auth", params=AUTH)
        assert moved.status_code == 302 and moved.headers["location"].startswith(f"{home.base_url}/oauth/v2/auth?")
        with httpx.Client(base_url=home.base_url) as there:
            back = approve(there)
            assert back["location"] == "eu" and back["accounts-server"] == home.base_url
            assert exchange(http, back["code"]) == {"error": "invalid_code"}  # this DC never issued it
            assert "refresh_token" in exchange(there, back["code"])
    finally:
        home.stop()
    assert re.match(r"^http://127\.0\.0\.1:\d+$", home.base_url)
