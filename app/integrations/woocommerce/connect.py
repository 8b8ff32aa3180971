"""The store's connect flows in WooCommerce's and WordPress's words (shared/reference/operator.md
§2-3): where to send the browser, what comes back, and what must hold for it to work.

WooCommerce key grant (`/wc-auth/v1/authorize`): the store POSTs the new key as JSON to our
`callback_url` with `wp_safe_remote_post`, which only calls https:// URLs on ports 80, 443 or
8080 whose host is a public address (not loopback, 10/8, 172.16/12, 192.168/16), unless the
store's own host. `return_url` is where the browser comes back (`success=1|0&user_id=<ours>`).

WordPress application password (`/wp-admin/authorize-application.php`): the browser comes back to
`success_url` with `site_url`, `user_login` and `password`, or to `reject_url`. WordPress wants
https redirect URLs unless the site runs in the "local" environment or the URL's host is
127.0.0.1 / [::1], and offers application passwords at all only over HTTPS (or when local).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

APP_NAME = "skubridge"
# The service's fixed application id: WordPress lists the passwords it granted under it.
WORDPRESS_APP_ID = "4f0b6a4e-3c1d-4e52-9a3b-6d2f8c7e1a90"
REQUESTED_SCOPE = "read_write"
CALLBACK_PORTS = (80, 443, 8080)  # wp_http_validate_url's default allowed ports

WOO_CALLBACK_PATH = "/oauth/woocommerce/callback"
WOO_RETURN_PATH = "/oauth/woocommerce/return"
WP_CALLBACK_PATH = "/oauth/wordpress/callback"
WP_REJECT_PATH = "/oauth/wordpress/reject"


@dataclass(frozen=True)
class KeyGrant:
    """What WooCommerce POSTs to the callback."""

    key_id: int
    state: str  # our `user_id`, echoed back
    consumer_key: str
    consumer_secret: str
    permissions: str


def key_grant_url(store_base_url: str, public_base_url: str, state: str) -> str:
    query = {"app_name": APP_NAME, "scope": REQUESTED_SCOPE, "user_id": state,
             "return_url": f"{public_base_url.rstrip('/')}{WOO_RETURN_PATH}",
             "callback_url": f"{public_base_url.rstrip('/')}{WOO_CALLBACK_PATH}"}
    return f"{store_base_url.rstrip('/')}/wc-auth/v1/authorize?{urlencode(query)}"


def parse_key_grant(body: Any) -> KeyGrant:
    """The POSTed key; ValueError naming what is missing or malformed."""
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    fields = {name: body.get(name) for name in ("user_id", "consumer_key", "consumer_secret", "key_permissions")}
    missing = [name for name, value in fields.items() if not isinstance(value, str) or not value]
    if missing:
        raise ValueError(f"missing or not text: {', '.join(missing)}")
    if not str(fields["consumer_key"]).startswith("ck_") or not str(fields["consumer_secret"]).startswith("cs_"):
        raise ValueError("consumer_key must start with ck_ and consumer_secret with cs_")
    key_id = body.get("key_id")
    return KeyGrant(key_id=key_id if isinstance(key_id, int) and not isinstance(key_id, bool) else 0,
                    state=str(fields["user_id"]), consumer_key=str(fields["consumer_key"]),
                    consumer_secret=str(fields["consumer_secret"]), permissions=str(fields["key_permissions"]))


def app_password_url(store_base_url: str, public_base_url: str, state: str) -> str:
    base = public_base_url.rstrip("/")
    query = {"app_name": APP_NAME, "app_id": WORDPRESS_APP_ID,
             "success_url": f"{base}{WP_CALLBACK_PATH}?{urlencode({'state': state})}",
             "reject_url": f"{base}{WP_REJECT_PATH}?{urlencode({'state': state})}"}
    return f"{store_base_url.rstrip('/')}/wp-admin/authorize-application.php?{urlencode(query)}"


def key_grant_problems(public_base_url: str) -> list[str]:
    """Why a store could not deliver its key to PUBLIC_BASE_URL; empty when it could."""
    parts = urlsplit(public_base_url)
    problems = []
    if parts.scheme != "https":
        problems.append(f"PUBLIC_BASE_URL ({public_base_url}) is not an https:// address: WooCommerce sends "
                        "the key only to an https:// callback.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if port not in CALLBACK_PORTS:
        problems.append(f"PUBLIC_BASE_URL uses port {port}: WordPress posts only to ports 80, 443 and 8080.")
    if _private_host(parts.hostname or ""):
        problems.append(f"PUBLIC_BASE_URL's host ({parts.hostname}) is not a public address: WordPress refuses to "
                        "post to loopback and private addresses.")
    return problems


def app_password_problems(public_base_url: str, store_base_url: str) -> list[str]:
    """Why WordPress may refuse the application password flow; empty when nothing says so."""
    problems = []
    if not store_base_url.startswith("https://"):
        problems.append("The store is not on https://: WordPress offers application passwords only over HTTPS "
                        "(or on a site in the local environment).")
    parts = urlsplit(public_base_url)
    if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "::1"):
        problems.append(f"PUBLIC_BASE_URL ({public_base_url}) is not an https:// address: WordPress refuses to "
                        "send the password back to it (unless the store runs in the local environment).")
    return problems


def _private_host(host: str) -> bool:
    if host in ("localhost", "") or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: only the store can tell what it resolves to
    return not address.is_global
