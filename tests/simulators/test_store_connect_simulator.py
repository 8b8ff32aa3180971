"""The store simulator's connect flows: WooCommerce's `/wc-auth/v1/` key grant and WordPress's
`authorize-application.php`, against a small callback server that answers what a test asks."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.integrations.woocommerce.oauth import OAuth1QueryAuth
from simulators.server import ServerThread
from simulators.woocommerce.connect import _redirect_problem
from tests.helpers import sim

APP_ID = "4f0b6a4e-3c1d-4e52-9a3b-6d2f8c7e1a90"


class Receiver:
    """Records every POSTed JSON body and answers `status`."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        app = FastAPI()

        @app.post("/callback")
        async def callback(request: Request) -> JSONResponse:
            self.bodies.append(await request.json())
            return JSONResponse({}, status_code=self.status)

        self.server = ServerThread(app).start()

    @property
    def url(self) -> str:
        return f"{self.server.base_url}/callback"


@pytest.fixture(scope="module")
def receiver():
    receiving = Receiver()
    yield receiving
    receiving.server.stop()


@pytest.fixture
def callbacks(receiver, store, woo_server):
    receiver.bodies.clear()
    receiver.status = 200
    sim(woo_server.base_url, "PUT", "/config", json={"connect_http_callbacks": True})
    return receiver


def authorize_url(woo_url: str, callback: str, **overrides: str) -> str:
    params = {"app_name": "skubridge", "scope": "read_write", "user_id": "state-123",
              "return_url": "http://app.example/return", "callback_url": callback} | overrides
    return f"{woo_url}/wc-auth/v1/authorize?{urlencode({k: v for k, v in params.items() if v is not None})}"


def link(page: str, label: str) -> str:
    return unescape(re.search(rf'<a href="([^"]+)"[^>]*>{label}</a>', page).group(1))


def keys(woo_url: str) -> dict[int, dict]:
    return {k["key_id"]: k for k in sim(woo_url, "GET", "/keys") if k["key_id"]}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"app_name": ""}, "Error: Missing parameter app_name."),
    ({"callback_url": None}, "Error: Missing parameter callback_url."),
    ({"scope": "admin"}, "Error: Invalid scope admin."),
    ({"return_url": "http://"}, "is not a valid URL"),
    ({"callback_url": "http://app.example/cb"}, "Error: The callback_url needs to be over SSL."),
])
def test_authorize_checks_its_parameters_as_the_plugin_does(store, woo_server, overrides, message):
    response = httpx.get(authorize_url(woo_server.base_url, "https://app.example/cb", **overrides))
    assert response.status_code == 401
    assert message in unescape(response.text)
    assert "<title>Access denied</title>" in response.text


def test_the_grant_page_shows_the_scope_and_a_deny_link_back(store, woo_server):
    page = httpx.get(authorize_url(woo_server.base_url, "https://app.example/cb", scope="read"))
    assert page.status_code == 200
    assert "skubridge would like to connect to your store" in page.text
    assert "<strong>Read</strong>" in page.text
    assert link(page.text, "Deny") == "http://app.example/return?success=0&user_id=state-123"


def test_approve_posts_the_key_and_the_key_works_with_its_permissions(callbacks, woo_server):
    page = httpx.get(authorize_url(woo_server.base_url, callbacks.url))
    answer = httpx.get(link(page.text, "Approve"))

    assert answer.status_code == 302
    assert answer.headers["location"] == "http://app.example/return?success=1&user_id=state-123"
    [body] = callbacks.bodies
    assert set(body) == {"key_id", "user_id", "consumer_key", "consumer_secret", "key_permissions"}
    assert body["user_id"] == "state-123" and body["key_permissions"] == "read_write"
    assert re.fullmatch(r"ck_[0-9a-f]{40}", body["consumer_key"]) and body["consumer_secret"].startswith("cs_")
    assert keys(woo_server.base_url)[body["key_id"]]["description"].startswith("skubridge - API (")
    # Over plain HTTP WooCommerce reads OAuth 1.0a signatures only.
    client = httpx.Client(base_url=f"{woo_server.base_url}/wp-json/wc/v3",
                          auth=OAuth1QueryAuth(body["consumer_key"], body["consumer_secret"]))
    assert client.get("/settings/products").status_code == 200
    assert client.post("/products/batch", json={}).status_code == 200


def test_a_read_only_key_is_refused_writes(callbacks, woo_server):
    sim(woo_server.base_url, "PUT", "/config", json={"connect_key_permissions": "read"})
    page = httpx.get(authorize_url(woo_server.base_url, callbacks.url))
    assert httpx.get(link(page.text, "Approve")).status_code == 302
    [body] = callbacks.bodies
    assert body["key_permissions"] == "read"
    client = httpx.Client(base_url=f"{woo_server.base_url}/wp-json/wc/v3",
                          auth=OAuth1QueryAuth(body["consumer_key"], body["consumer_secret"]))
    assert client.get("/settings/products").status_code == 200
    refused = client.post("/products/batch", json={})
    assert refused.status_code == 401
    assert refused.json()["message"] == "The API key provided does not have write permissions."


@pytest.mark.parametrize("status", [201, 204, 500])
def test_a_callback_answering_anything_but_200_gets_the_key_deleted(callbacks, woo_server, status):
    callbacks.status = status
    page = httpx.get(authorize_url(woo_server.base_url, callbacks.url))
    answer = httpx.get(link(page.text, "Approve"))

    assert answer.status_code == 401
    assert "unable to send the consumer data" in answer.text
    [body] = callbacks.bodies
    assert body["key_id"] not in keys(woo_server.base_url)


def wp_url(woo_url: str, **overrides: str | None) -> str:
    params = {"app_name": "skubridge", "app_id": APP_ID, "success_url": "https://app.example/wp?state=s1",
              "reject_url": "https://app.example/wp-reject?state=s1"} | overrides
    return f"{woo_url}/wp-admin/authorize-application.php?{urlencode({k: v for k, v in params.items() if v is not None})}"


def _form(page: str) -> dict[str, str]:
    return {unescape(n): unescape(v) for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}


def test_application_password_approve_redirects_with_a_password_that_uploads(store, woo_server):
    page = httpx.get(wp_url(woo_server.base_url))
    assert page.status_code == 200 and "Yes, I approve of this connection" in page.text
    answer = httpx.post(f"{woo_server.base_url}/wp-admin/authorize-application.php",
                        data={**_form(page.text), "approve": "1"})

    assert answer.status_code == 302
    target = urlsplit(answer.headers["location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "app.example", "/wp")
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert query["state"] == "s1" and query["site_url"] == woo_server.base_url and query["user_login"] == "admin"
    assert sim(woo_server.base_url, "GET", "/app-passwords")[-1] == {"user": "admin", "name": "skubridge",
                                                                   "app_id": APP_ID}
    upload = httpx.post(f"{woo_server.base_url}/wp-json/wp/v2/media", content=b"",
                        auth=("admin", query["password"]))
    assert upload.status_code == 400 and upload.json()["code"] == "rest_upload_no_data"  # authenticated
    wrong = httpx.post(f"{woo_server.base_url}/wp-json/wp/v2/media", content=b"", auth=("admin", "nope"))
    assert wrong.status_code == 401 and wrong.json()["code"] == "incorrect_password"


def test_application_password_reject_goes_to_reject_url_or_success_url(store, woo_server):
    page = httpx.get(wp_url(woo_server.base_url))
    answer = httpx.post(f"{woo_server.base_url}/wp-admin/authorize-application.php",
                        data={**_form(page.text), "reject": "1"})
    assert answer.headers["location"] == "https://app.example/wp-reject?state=s1"
    page = httpx.get(wp_url(woo_server.base_url, reject_url=None))
    answer = httpx.post(f"{woo_server.base_url}/wp-admin/authorize-application.php",
                        data={**_form(page.text), "reject": "1"})
    assert answer.headers["location"] == "https://app.example/wp?state=s1&success=false"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"app_id": "not-a-uuid"}, "The application ID must be a UUID."),
    ({"success_url": "javascript:alert(1)"}, "The URL must be a valid URL."),
])
def test_application_password_requests_are_checked(store, woo_server, overrides, message):
    response = httpx.get(wp_url(woo_server.base_url, **overrides))
    assert response.status_code == 500
    assert message in response.text


def test_http_redirects_only_for_a_local_site_or_loopback(store, woo_server):
    store.app_passwords_over_http = False  # a production site... reached over plain HTTP
    try:
        response = httpx.get(wp_url(woo_server.base_url))
        assert response.status_code == 501  # application passwords need HTTPS there
        assert "error=disabled" in unescape(response.text)
    finally:
        store.app_passwords_over_http = True
    store.app_passwords_over_http = False
    try:
        assert _redirect_problem(store, "http://shop.example/cb") == "The URL must be served over a secure connection."
        assert _redirect_problem(store, "http://127.0.0.1:8000/cb") is None
    finally:
        store.app_passwords_over_http = True
    assert _redirect_problem(store, "http://shop.example/cb") is None  # a "local" site allows http
