"""The console over HTTP, in-process: sign-in, the cookie's attributes, CSRF, the throttle,
and the pages' content. The browser suite (test_console_browser.py) covers the live page."""

from __future__ import annotations

from pydantic import SecretStr

from app.ui import session as auth
from tests.helpers import create_connection, start_run
from tests.ui.console import sign_in


async def test_signed_out_visitors_are_sent_to_the_login_page(console):
    for path in ("/ui/", "/ui/connections/00000000-0000-0000-0000-000000000000",
                 "/ui/connections/00000000-0000-0000-0000-000000000000/events"):
        response = await console.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login", path
    login = await console.get("/ui/login")
    assert login.status_code == 200 and 'for="token">API token</label>' in login.text and ">Sign in</button>" in login.text


async def test_sign_in_sets_a_signed_httponly_strict_cookie_that_expires(console):
    response = await console.post("/ui/login", data={"token": "test-token"})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{auth.COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and f"Max-Age={auth.SESSION_MAX_AGE_S}" in cookie
    assert "Path=/ui" in cookie and "Secure" not in cookie  # plain http here; https adds Secure
    assert "test-token" not in cookie
    assert (await console.get("/ui/")).status_code == 200
    # A forged cookie is no session.
    value = console.cookies[auth.COOKIE]
    console.cookies.set(auth.COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"), path="/ui")
    assert (await console.get("/ui/")).status_code == 303


async def test_a_session_ends_when_the_api_token_changes(console, settings):
    await sign_in(console)
    rotated = settings.model_copy(update={"api_token": SecretStr("another-token")})
    assert auth.read_session(_request_with(console.cookies[auth.COOKIE]), settings) is not None
    assert auth.read_session(_request_with(console.cookies[auth.COOKIE]), rotated) is None


def _request_with(cookie: str):
    from starlette.requests import Request

    return Request({"type": "http", "headers": [(b"cookie", f"{auth.COOKIE}={cookie}".encode())]})


async def test_a_cookie_past_its_age_is_refused(console, settings, monkeypatch):
    await sign_in(console)
    cookie = console.cookies[auth.COOKIE]
    monkeypatch.setattr(auth, "SESSION_MAX_AGE_S", -1)  # every signature is now too old
    assert auth.read_session(_request_with(cookie), settings) is None


async def test_forms_without_their_csrf_token_are_refused(console, api, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    csrf = await sign_in(console)
    for path in (f"/ui/connections/{conn['id']}/syncs", f"/ui/connections/{conn['id']}/pause", "/ui/logout"):
        assert (await console.post(path, data={})).status_code == 403, path
        assert (await console.post(path, data={"csrf": csrf[:-1] + "x"})).status_code == 403, path
    # Nothing was started by the refused posts.
    assert (await api.get(f"/api/v1/connections/{conn['id']}/syncs")).json()["total"] == 0
    started = await console.post(f"/ui/connections/{conn['id']}/syncs", data={"csrf": csrf, "mode": "verify"})
    assert started.status_code == 303 and started.headers["location"] == f"/ui/connections/{conn['id']}"
    runs = (await api.get(f"/api/v1/connections/{conn['id']}/syncs")).json()["items"]
    assert [(r["kind"], r["mode"]) for r in runs] == [("manual", "verify")]


async def test_sign_out_ends_the_session(console):
    csrf = await sign_in(console)
    response = await console.post("/ui/logout", data={"csrf": csrf})
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    assert (await console.get("/ui/")).status_code == 303


async def test_five_wrong_tokens_in_a_minute_hold_off_the_address(console, ctx):
    for _ in range(auth.FAILED_SIGNINS_ALLOWED):
        wrong = await console.post("/ui/login", data={"token": "guess"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
    held = await console.post("/ui/login", data={"token": "test-token"})  # even the right one waits
    assert held.status_code == 429 and 0 < int(held.headers["retry-after"]) <= auth.FAILED_SIGNIN_WINDOW_S
    assert auth.COOKIE not in held.headers.get("set-cookie", "")
    # The window is Redis's to keep: once it lapses the address may try again.
    async for key in ctx.redis.scan_iter("skubridge:console:signin-failures:*"):
        assert 0 < await ctx.redis.ttl(key) <= auth.FAILED_SIGNIN_WINDOW_S
        await ctx.redis.delete(key)
    assert (await console.post("/ui/login", data={"token": "test-token"})).status_code == 303


async def test_connections_page_lists_each_connection_with_its_last_run(console, api, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    run = await start_run(api, conn["id"])
    await sign_in(console)
    page = (await console.get("/ui/")).text
    assert f'href="/ui/connections/{conn["id"]}">Test store</a>' in page
    assert woo_server.base_url in page and conn["zoho"]["organization_id"] in page
    assert run["status"].capitalize() in page and ">Off</span>" in page


async def test_status_page_shows_the_run_and_refusals(console, api, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    csrf = await sign_in(console)
    page = (await console.get(f"/ui/connections/{conn['id']}")).text
    assert 'role="progressbar"' in page and 'aria-valuenow="0"' in page and "No sync has run yet" in page
    assert f"<title>{conn['name']} · skubridge console</title>" in page
    assert page.count('id="webhook"') == 1
    for label in ("Start sync", "Verify store", "Pause", "Resume", "Cancel", "Total", "Synced", "Failed", "Pending", "Skipped"):
        assert f">{label}<" in page, label
    # Pausing with no run is refused by the service and said on the page, not as a crash.
    refused = await console.post(f"/ui/connections/{conn['id']}/pause", data={"csrf": csrf})
    assert refused.status_code == 303 and "notice=" in refused.headers["location"]
    shown = await console.get(refused.headers["location"])
    assert "no sync to pause" in shown.text
    assert (await console.get("/ui/connections/00000000-0000-0000-0000-000000000000")).status_code == 404


async def test_console_routes_stay_out_of_the_openapi_document(api):
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith("/ui")]


async def test_console_errors_are_pages_with_the_api_status(console, api):
    """A console request that fails gets a page (same status as the API, the detail, a way back),
    not the API's JSON; the API keeps its JSON."""
    await sign_in(console)
    missing = "/ui/connections/00000000-0000-0000-0000-000000000000"
    cases = {missing: 404, "/ui/connections/not-a-uuid": 422, "/ui/no-such-page": 404,
             f"{missing}/log?level=loud": 404}
    for path, status in cases.items():
        response = await console.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert "<h1>" in response.text and 'href="/ui/"' in response.text and ">Sign out</button>" in response.text
    assert "00000000-0000-0000-0000-000000000000 does not exist</p>" in (await console.get(missing)).text
    api_missing = await api.get("/api/v1/connections/00000000-0000-0000-0000-000000000000")
    assert api_missing.status_code == 404 and api_missing.json()["error"] == "NotFound"
