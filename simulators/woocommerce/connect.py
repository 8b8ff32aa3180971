"""The store's side of the two connect flows: WooCommerce's `/wc-auth/v1/` key grant and
WordPress's `authorize-application.php` application password grant.

WooCommerce (`class-wc-auth.php`, shared/reference/operator.md §2):
- `GET /wc-auth/v1/authorize?app_name&scope&user_id&return_url&callback_url` checks the
  parameters as `make_validation()` does (each required and non-empty, `scope` one of read,
  write, read_write, both URLs valid once `https://` is put in front of one without `://`,
  `callback_url` over https) and shows the grant page: the app, the scope's label, an
  "Approve" link (to `access_granted`) and a "Deny" link (`return_url?success=0&user_id=…`).
  A refusal is WordPress's `wp_die` page, 401 "Access denied", "Error: <message>.".
- `GET /wc-auth/v1/access_granted?…` makes the key (`create_keys()`), POSTs
  `{key_id, user_id, consumer_key, consumer_secret, key_permissions}` as JSON to `callback_url`
  (`post_consumer_data()`), and deletes the key again unless the answer is exactly 200 (201 and
  204 too: `maybe_delete_key()`), showing "Access denied"; on 200 it redirects to
  `return_url?success=1&user_id=…`.

Simplifications, said once: the visitor is the signed-in store administrator (no login form,
no nonce on the grant link); `wp_safe_remote_post`'s address rules (ports 80/443/8080, public
hosts only) are not applied, so tests can use loopback ports. One knob has no counterpart in
the real plugin: `connect_http_callbacks` lets `callback_url` be http:// for local runs; the
real plugin refuses it. `connect_key_permissions` makes the grant's key with other permissions
than asked (a key narrowed to read-only), for tests.

WordPress (`wp-admin/authorize-application.php`, operator.md §3):
- `GET /wp-admin/authorize-application.php?app_name&app_id&success_url&reject_url` checks the
  request (`app_id` a UUID; redirect URLs not javascript:/data:, and https unless the site is
  "local" or the URL's host is 127.0.0.1 / [::1]) and shows "Yes, I approve of this
  connection" / "No, I do not approve of this connection" buttons.
- `POST` approves (a new password for the admin, then `success_url?site_url&user_login&password`,
  or the password shown when there is no success_url) or rejects (`reject_url`; else
  `success_url?success=false`; else the dashboard).
- Application passwords must be available: over HTTPS, or on a "local" site
  (`StoreState.app_passwords_over_http`); otherwise 501, with `error=disabled` on the reject link.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from simulators.woocommerce.httpio import site_of
from simulators.woocommerce.state import StoreState
from simulators.woocommerce.wp import wc_clean

SCOPES = {"read": "Read", "write": "Write", "read_write": "Read/Write"}
WC_PARAMS = ("app_name", "user_id", "return_url", "callback_url", "scope")
CALLBACK_TIMEOUT_S = 60.0  # post_consumer_data's timeout
ADMIN_LOGIN = "admin"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^\s/?#]+[^\s]*$", re.IGNORECASE)


class Refused(Exception):
    def __init__(self, message: str, *, title: str = "Access denied", status: int = 401,
                 link: str | None = None) -> None:
        super().__init__(message)
        self.message, self.title, self.status, self.link = message, title, status, link


def wp_die(refusal: Refused) -> HTMLResponse:
    """WordPress's `wp_die` page."""
    link = f'<p><a href="{escape(refusal.link)}">Go Back</a></p>' if refusal.link else ""
    body = (f"<!doctype html><html><head><title>{escape(refusal.title)}</title></head><body id=\"error-page\">"
            f"<div class=\"wp-die-message\"><p>{escape(refusal.message)}</p></div>{link}</body></html>")
    return HTMLResponse(body, status_code=refusal.status)


def with_query(url: str, **params: Any) -> str:
    """`add_query_arg`: `params` laid over the URL's own query."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True)) | {k: str(v) for k, v in params.items()}
    return urlunsplit(parts._replace(query=urlencode(query)))


def _formatted_url(url: str) -> str:
    """`get_formatted_url`: https:// in front of a URL without a scheme."""
    return url if "://" in url else f"https://{url}"


def validate_wc_auth(store: StoreState, data: dict[str, str]) -> None:
    """`make_validation()`; Refused with the plugin's message."""
    for param in WC_PARAMS:
        if not data.get(param):
            raise Refused(f"Error: Missing parameter {param}.")
    if data["scope"] not in SCOPES:
        raise Refused(f"Error: Invalid scope {wc_clean(data['scope'])}.")
    for param in ("return_url", "callback_url"):
        url = _formatted_url(data[param])
        if not _URL.match(url):
            raise Refused(f"Error: The {url} is not a valid URL.")
    callback = _formatted_url(data["callback_url"])
    if not callback.lower().startswith("https://") and not (
            store.knobs.connect_http_callbacks and callback.lower().startswith("http://")):
        raise Refused("Error: The callback_url needs to be over SSL.")


def _wc_data(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "") for name in WC_PARAMS}


def _grant_page(data: dict[str, str], approve: str, deny: str) -> str:
    app = escape(wc_clean(data["app_name"]))
    return (f"<!doctype html><html lang=\"en\"><head><title>WooCommerce &rsaquo; Connect</title></head><body>"
            f"<main class=\"wc-auth-content\"><h1>{app} would like to connect to your store</h1>"
            f"<p>This will give \"{app}\" <strong>{SCOPES[data['scope']]}</strong> access which will allow it to:"
            "</p><ul class=\"wc-auth-permissions\"><li>View and manage coupons</li><li>View and manage customers</li>"
            "<li>View and manage orders and sales reports</li><li>View and manage products</li></ul>"
            f"<p class=\"wc-auth-logged-in-as\">Logged in as {ADMIN_LOGIN}</p>"
            f"<p class=\"wc-auth-actions\"><a href=\"{escape(approve)}\" class=\"button button-primary\">Approve</a> "
            f"<a href=\"{escape(deny)}\" class=\"button\">Deny</a></p></main></body></html>")


def build_connect_router(store: StoreState) -> APIRouter:
    router = APIRouter()

    @router.get("/wc-auth/v1/authorize")
    async def wc_authorize(request: Request) -> Response:
        data = _wc_data(request)
        try:
            validate_wc_auth(store, data)
        except Refused as refusal:
            return wp_die(refusal)
        approve = f"{site_of(store, request)}/wc-auth/v1/access_granted?{urlencode(data)}"
        deny = with_query(_formatted_url(data["return_url"]), success=0, user_id=wc_clean(data["user_id"]))
        return HTMLResponse(_grant_page(data, approve, deny))

    @router.get("/wc-auth/v1/access_granted")
    async def wc_access_granted(request: Request) -> Response:
        data = _wc_data(request)
        try:
            validate_wc_auth(store, data)
            await _grant_key(store, data)
        except Refused as refusal:
            return wp_die(refusal)
        target = with_query(_formatted_url(data["return_url"]), success=1, user_id=wc_clean(data["user_id"]))
        return RedirectResponse(target, status_code=302)

    @router.get("/wp-admin/authorize-application.php")
    async def wp_authorize_page(request: Request) -> Response:
        data = dict(request.query_params)
        try:
            _validate_wp(store, request, data)
        except Refused as refusal:
            return wp_die(refusal)
        return HTMLResponse(_wp_page(data))

    @router.post("/wp-admin/authorize-application.php")
    async def wp_authorize(request: Request) -> Response:
        data = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        try:
            _validate_wp(store, request, data)
        except Refused as refusal:
            return wp_die(refusal)
        success, reject = data.get("success_url", ""), data.get("reject_url", "")
        if "reject" in data:
            target = reject or (with_query(success, success="false") if success else f"{site_of(store, request)}/wp-admin/")
            return RedirectResponse(target, status_code=302)
        name = data.get("new_application_password_name") or data.get("app_name") or ""
        password = store.grant_app_password(user=ADMIN_LOGIN, name=name, app_id=data.get("app_id", ""))
        if not success:
            return HTMLResponse(f"<!doctype html><html><body><p>Your new password for {escape(name)} is: "
                                f"<kbd>{escape(password)}</kbd></p></body></html>")
        return RedirectResponse(with_query(success, site_url=site_of(store, request), user_login=ADMIN_LOGIN,
                                           password=password), status_code=302)

    return router


async def _grant_key(store: StoreState, data: dict[str, str]) -> None:
    """`create_keys()` + `post_consumer_data()`; the key is deleted unless the callback answers 200."""
    permissions = store.knobs.connect_key_permissions or data["scope"]
    key = store.grant_key(app_name=wc_clean(data["app_name"]), permissions=permissions)
    consumer_data = {"key_id": key.key_id, "user_id": wc_clean(data["user_id"]), "consumer_key": key.key,
                     "consumer_secret": key.secret, "key_permissions": permissions}
    try:
        async with httpx.AsyncClient(timeout=CALLBACK_TIMEOUT_S) as client:
            response = await client.post(_formatted_url(data["callback_url"]), json=consumer_data,
                                         headers={"Content-Type": "application/json;charset=UTF-8"})
        answered = response.status_code
    except httpx.HTTPError:
        answered = 0
    if answered != 200:
        store.delete_key(key.key_id)
        raise Refused("Error: An error occurred in the request and at the time were unable to send the "
                      "consumer data.")


def _validate_wp(store: StoreState, request: Request, data: dict[str, str]) -> None:
    """`wp_is_authorize_application_password_request_valid` and the availability check."""
    reject = data.get("reject_url", "")
    if not (request.url.scheme == "https" or store.app_passwords_over_http):
        raise Refused("Application passwords are not available.", title="Cannot Authorize Application", status=501,
                      link=with_query(reject, error="disabled") if reject else None)
    problems = []
    for field in ("success_url", "reject_url"):
        problem = _redirect_problem(store, data.get(field, ""))
        if problem:
            problems.append(problem)
    if data.get("app_id") and not _UUID.match(data["app_id"]):
        problems.append("The application ID must be a UUID.")
    if problems:
        raise Refused("The Authorize Application request is not allowed. " + " ".join(problems),
                      title="Cannot Authorize Application", status=500)


def _redirect_problem(store: StoreState, url: str) -> str | None:
    """`wp_is_authorize_application_redirect_url_valid`."""
    if not url:
        return None
    scheme = urlsplit(url).scheme.lower()
    if not scheme or scheme in ("javascript", "data"):
        return "The URL must be a valid URL."
    host = urlsplit(url).hostname or ""
    if scheme == "http" and not store.app_passwords_over_http and host not in ("127.0.0.1", "::1"):
        return "The URL must be served over a secure connection."
    return None


def _wp_page(data: dict[str, str]) -> str:
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in data.items()
                     if k in ("app_name", "app_id", "success_url", "reject_url"))
    app = escape(data.get("app_name") or "An application")
    return (f"<!doctype html><html lang=\"en\"><head><title>Authorize Application</title></head><body><main>"
            f"<h1>Authorize Application</h1><p>Would you like to give {app} access to your account?</p>"
            f"<form method=\"post\" action=\"/wp-admin/authorize-application.php\">{hidden}"
            f"<input type=\"hidden\" name=\"action\" value=\"authorize_application_password\">"
            f"<label for=\"app_name\">New Application Password Name</label>"
            f"<input id=\"app_name\" name=\"new_application_password_name\" value=\"{app}\">"
            f"<button type=\"submit\" name=\"approve\" value=\"1\">Yes, I approve of this connection</button>"
            f"<button type=\"submit\" name=\"reject\" value=\"1\">No, I do not approve of this connection</button>"
            f"</form></main></body></html>")
