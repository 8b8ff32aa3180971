"""Authentication as a WordPress + WooCommerce store does it.

Two handlers run, in WordPress's `determine_current_user` order:

1. WooCommerce (`WC_REST_Authentication`, only for wc/* routes):
   - over HTTPS: `?consumer_key=&consumer_secret=` (preferred) or HTTP Basic `ck:cs`. A wrong secret
     is an error ("Consumer secret is invalid."); an unknown key is not: the request goes on
     unauthenticated and fails later in the route's permission check (capture 30);
   - then (and always over plain HTTP) OAuth 1.0a one-legged, params in the query string, a
     form body or an `Authorization: OAuth` header, verified like `check_oauth_signature`.
2. WordPress application passwords (any route), from HTTP Basic, when available: over HTTPS, or
   over HTTP when `StoreState.app_passwords_over_http` (a WordPress in the "local" environment).
   Once application passwords exist, a Basic user name that is no WordPress user is an error
   (`invalid_username`, capture 52), so Basic `ck:cs` over HTTP fails with that instead of being
   silently ignored.

Errors of step 1 win over those of step 2 (filter priorities 15 and 90).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_plus

from simulators.woocommerce.errors import WCError
from simulators.woocommerce.records import ConsumerKey
from simulators.woocommerce.state import StoreState
from simulators.woocommerce.wp import is_numeric, php_empty, rawurlencode

AUTH_ERROR = "woocommerce_rest_authentication_error"
OAUTH_PARAMS = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
NONCE_WINDOW = 15 * 60

_PERMISSION_ERRORS = {
    "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
    "view": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
    "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
    "delete": ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
    "batch": ("woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource."),
}


@dataclass
class AuthRequest:
    """What the authentication handlers look at."""

    method: str
    is_ssl: bool
    url: str  # the store's view of the URL without query: home scheme://host[:port] + raw path
    query: dict[str, Any] = field(default_factory=dict)  # $_GET
    form: dict[str, Any] = field(default_factory=dict)  # $_POST (form-encoded bodies only)
    authorization: str | None = None
    is_wc_route: bool = True


@dataclass
class Principal:
    """The authenticated WordPress user and how it got in."""

    user_id: int
    method: str  # basic_auth | oauth1 | app_password
    key: ConsumerKey | None = None


@dataclass
class AuthResult:
    principal: Principal | None = None
    error: WCError | None = None


def authenticate(store: StoreState, request: AuthRequest, *, now: float | None = None) -> AuthResult:
    """Run the WooCommerce then the application-password handler; see the module docstring."""
    with store.lock:
        principal, error = None, None
        if request.is_wc_route:
            principal, error = _woocommerce(store, request, time.time() if now is None else now)
        if principal is None:
            principal, app_error = _application_password(store, request)
            error = error or app_error
        if error is not None:
            return AuthResult(None, error)
        return AuthResult(principal, None)


def key_permission_error(principal: Principal | None, method: str) -> WCError | None:
    """`check_user_permissions` (rest_pre_dispatch): read-only keys cannot write and vice versa."""
    if principal is None or principal.key is None:
        return None
    reading = method in ("GET", "HEAD")
    if principal.key.permissions == "read" and not reading:
        return WCError(AUTH_ERROR, "The API key provided does not have write permissions.", 401)
    if principal.key.permissions == "write" and reading:
        return WCError(AUTH_ERROR, "The API key provided does not have read permissions.", 401)
    return None


def permission_error(action: str, principal: Principal | None) -> WCError | None:
    """The route permission check: every authenticated user of the simulator is an admin."""
    if principal is not None:
        return None
    code, message = _PERMISSION_ERRORS[action]
    return WCError(code, message, 401)  # rest_authorization_required_code(): 401 when logged out


# ------------------------------------------------------------------ WooCommerce keys


def _woocommerce(store: StoreState, request: AuthRequest, now: float) -> tuple[Principal | None, WCError | None]:
    error = None
    if request.is_ssl:
        principal, error = _basic_key(store, request)
        if principal is not None:
            return principal, None
    principal, oauth_error = _oauth(store, request, now)
    return principal, oauth_error or error


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic` header (PHP_AUTH_USER / PHP_AUTH_PW)."""
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _basic_key(store: StoreState, request: AuthRequest) -> tuple[Principal | None, WCError | None]:
    """`perform_basic_authentication`: query-string keys first, then the Basic header."""
    key_id, secret = "", ""
    query = request.query
    if not php_empty(query.get("consumer_key")) and not php_empty(query.get("consumer_secret")):
        key_id, secret = str(query["consumer_key"]), str(query["consumer_secret"])
    basic = parse_basic(request.authorization)
    if not key_id and basic and basic[0] and basic[1]:
        key_id, secret = basic
    if not key_id or not secret:
        return None, None
    key = store.consumer_keys.get(key_id)
    if key is None:
        return None, None  # unknown key: no error, the request just stays logged out
    if not hmac.compare_digest(key.secret.encode(), secret.encode()):
        return None, WCError(AUTH_ERROR, "Consumer secret is invalid.", 401)
    return Principal(key.user_id, "basic_auth", key), None


def parse_oauth_header(header: str) -> dict[str, str]:
    """`WC_REST_Authentication::parse_header`: oauth_* pairs of an `OAuth ...` header."""
    if not header.startswith("OAuth "):
        return {}
    params = {}
    for name, _, quoted, bare in re.findall(r'(oauth_[a-z_-]*)=(:?"([^"]*)"|([^,]*))', header):
        params[name] = unquote_plus(quoted if quoted else bare)
    return params


def _oauth_params(request: AuthRequest) -> tuple[dict[str, Any] | None, WCError | None]:
    """`get_oauth_parameters`: None when no OAuth is attempted; an error when some are missing."""
    params = {**request.query, **request.form}
    if request.authorization:
        params.update(parse_oauth_header(request.authorization.strip()))
    missing = [name for name in OAUTH_PARAMS if php_empty(params.get(name))]
    if len(missing) == len(OAUTH_PARAMS):
        return None, None
    if missing:
        plural = "s" if len(missing) > 1 else ""
        message = f"Missing OAuth parameter{plural} {', '.join(missing)}"
        return None, WCError("woocommerce_rest_authentication_missing_parameter", message, 401)
    return params, None


def _oauth(store: StoreState, request: AuthRequest, now: float) -> tuple[Principal | None, WCError | None]:
    params, error = _oauth_params(request)
    if params is None:
        return None, error
    key = store.consumer_keys.get(str(params["oauth_consumer_key"]))
    if key is None:
        return None, WCError(AUTH_ERROR, "Consumer key is invalid.", 401)
    error = check_oauth_signature(key.secret, request.method, request.url, params)
    if error is None:
        error = _check_timestamp_and_nonce(key, params["oauth_timestamp"], params["oauth_nonce"], now)
    if error is not None:
        return None, error
    return Principal(key.user_id, "oauth1", key), None


def signature_base_string(method: str, url: str, params: dict[str, Any]) -> str:
    """METHOD & rawurlencode(url) & rawurlencode(sorted, RFC 3986-normalised "k=v" pairs).

    As in WooCommerce: keys are sorted with strcmp before encoding, keys and values are encoded,
    each "k=v" is encoded again and the pairs are joined with "%26". Array parameters become
    `key%5Bsub%5D=value`. `oauth_signature` is left out.
    """
    pairs: list[str] = []
    for name in sorted((k for k in params if k != "oauth_signature"), key=lambda k: k.encode()):
        _join_pairs(rawurlencode(name), params[name], pairs)
    return f"{method.upper()}&{rawurlencode(url)}&{'%26'.join(pairs)}"


def _join_pairs(key: str, value: Any, out: list[str]) -> None:
    """`join_with_equals_sign` over `normalize_parameters` output (nested keys stay raw)."""
    if isinstance(value, list):
        value = {str(index): item for index, item in enumerate(value)}
    if isinstance(value, dict):
        for sub_key, sub_value in value.items():
            _join_pairs(f"{key}%5B{sub_key}%5D", sub_value, out)
        return
    out.append(rawurlencode(f"{key}={rawurlencode(str(value))}"))


def check_oauth_signature(secret: str, method: str, url: str, params: dict[str, Any]) -> WCError | None:
    """`check_oauth_signature`: HMAC-SHA1/SHA256 of the base string with key `secret&`."""
    base = signature_base_string(method, url, params)
    algorithm = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}.get(str(params["oauth_signature_method"]))
    if algorithm is None:
        return WCError(AUTH_ERROR, "Invalid signature - signature method is invalid.", 401)
    expected = base64.b64encode(hmac.new(f"{secret}&".encode(), base.encode(), algorithm).digest()).decode()
    # A "+" sent unencoded in a query string arrives as a space; WooCommerce puts it back.
    provided = unquote(str(params["oauth_signature"]).replace(" ", "+"))
    if not hmac.compare_digest(expected.encode(), provided.encode()):
        return WCError(AUTH_ERROR, "Invalid signature - provided signature does not match.", 401)
    return None


def _check_timestamp_and_nonce(key: ConsumerKey, timestamp: Any, nonce: Any, now: float) -> WCError | None:
    """±15 minutes; nonces are stored per key *by timestamp*, so only one nonce per second is kept
    (a WooCommerce quirk kept on purpose)."""
    stamp = int(float(timestamp)) if is_numeric(timestamp) else None
    if stamp is None or stamp < now - NONCE_WINDOW or stamp > now + NONCE_WINDOW:
        return WCError(AUTH_ERROR, "Invalid timestamp.", 401)
    if str(nonce) in key.nonces.values():
        return WCError(AUTH_ERROR, "Invalid nonce - nonce has already been used.", 401)
    key.nonces[stamp] = str(nonce)
    for old in [t for t in key.nonces if t < now - NONCE_WINDOW]:
        del key.nonces[old]
    return None


# ------------------------------------------------------------------ application passwords


def _application_password(store: StoreState, request: AuthRequest) -> tuple[Principal | None, WCError | None]:
    """`wp_validate_application_password` + `wp_authenticate_application_password`."""
    if not (request.is_ssl or store.app_passwords_over_http):
        return None, None
    basic = parse_basic(request.authorization)
    if basic is None or not (store.app_passwords or store.granted_app_passwords):
        return None, None  # no header, or no application password ever made
    user, password = basic
    entries = store.app_passwords_of(user)
    if not entries:
        if "@" in user:
            return None, WCError(
                "invalid_email", "<strong>Error:</strong> Unknown email address. Check again or try your username.", 401
            )
        return None, WCError(
            "invalid_username", "<strong>Error:</strong> Unknown username. Check again or try your email address.", 401
        )
    # Application passwords are compared without their separators ("abcd efgh ..." = "abcdefgh...").
    entry = next((e for e in entries if _squash(password) == _squash(e.password)), None)
    if entry is None:
        return None, WCError("incorrect_password", "The provided password is an invalid application password.", 401)
    return Principal(entry.user_id, "app_password"), None


def _squash(password: str) -> str:
    return re.sub(r"[^a-z\d]", "", password, flags=re.IGNORECASE)
