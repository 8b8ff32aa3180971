"""Zoho's OAuth 2.0 authorization-code flow for a server-based client (shared/reference/operator.md
§1): the consent URL, which accounts servers may receive the client secret, the code exchange,
the organizations the grant reaches, and revocation.

Accounts servers. The callback names the user's data centre (`location`, `accounts-server`); the
client secret goes only to an origin on the allowlist: Zoho's own accounts servers (every data
centre, Canada's at zohocloud.ca), ZOHO_ACCOUNTS_URL and ZOHO_TRUSTED_ORIGINS. The `api_domain`
the exchange returns gets the access token, so it must be one of Zoho's API domains (Canada's is
zohoapis.ca) or a trusted origin. Origins compare as scheme, host and port.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from app.integrations.zoho.datacenters import API_PATH, DATA_CENTERS
from app.integrations.zoho.errors import ZohoAuthError, ZohoRequestError, ZohoUnavailable
from app.integrations.zoho.tokens import json_or_empty

# The scopes the service needs, by the calls it makes (each API page states its `oauthscope`;
# shared/reference/zoho-api.md §1.3, operator.md §1):
# - ZohoInventory.items.READ: GET /items, /items/{id}, /items/{id}/image, /itemdetails, and
#   /itemgroups, /itemgroups/{id} (item groups use the items scopes). Nothing is written to Zoho,
#   and no price list is read, so neither items.CREATE/UPDATE nor a price-list scope is asked.
# - ZohoInventory.settings.READ: GET /organizations.
# - ZohoInventory.settings.CREATE, .UPDATE, .DELETE: the real-time sync's webhook and workflow
#   (POST/DELETE /settings/webhooks, /settings/workflows and their active/inactive switch);
#   unverified for Inventory, by analogy with Books' settings scopes.
SCOPES = (
    "ZohoInventory.items.READ",
    "ZohoInventory.settings.READ",
    "ZohoInventory.settings.CREATE",
    "ZohoInventory.settings.UPDATE",
    "ZohoInventory.settings.DELETE",
)
# `location` in the callback → the data centre key of app/integrations/zoho/datacenters.py.
LOCATIONS = {"us": "com", "eu": "eu", "in": "in", "au": "com.au", "jp": "jp", "ca": "ca", "cn": "com.cn",
             "sa": "sa"}
# Accounts servers with no Inventory data centre of their own in DATA_CENTERS (the UK is on the
# multi-DC page; its Inventory API domain is not listed, so it is taken from the exchange).
EXTRA_ACCOUNTS = ("https://accounts.zoho.uk",)
TIMEOUT = httpx.Timeout(15.0)
ACCOUNTS = "Zoho accounts server"  # who answered, in a failure's words


@dataclass(frozen=True, slots=True)
class Grant:
    refresh_token: str
    access_token: str
    api_domain: str


@dataclass(frozen=True, slots=True)
class Organization:
    organization_id: str
    name: str


def origin(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL (default ports dropped), None for anything else."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}".lower()


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Where a secret or a token may go. `trusted`: the deployment's extra origins."""

    trusted: frozenset[str]

    @classmethod
    def of(cls, *, accounts_url: str, trusted_origins: str) -> Allowlist:
        extra = [accounts_url, *(o.strip() for o in trusted_origins.split(",") if o.strip())]
        return cls(frozenset(o for o in map(origin, extra) if o))

    def accounts_server(self, url: str | None) -> str | None:
        """The origin to send the client secret to, or None when `url` is not an accounts server."""
        found = origin(url or "")
        known = {origin(accounts) for _, accounts in DATA_CENTERS.values()} | set(map(origin, EXTRA_ACCOUNTS))
        return found if found and (found in known or found in self.trusted) else None

    def api_domain(self, url: str | None) -> str | None:
        found = origin(url or "")
        known = {origin(api) for api, _ in DATA_CENTERS.values()}
        return found if found and (found in known or found in self.trusted) else None


def authorize_url(accounts_url: str, *, client_id: str, redirect_uri: str, state: str) -> str:
    """Where "Connect Zoho" sends the browser: consent for a refresh token (offline, re-asked)."""
    query = {"scope": ",".join(SCOPES), "client_id": client_id, "response_type": "code", "access_type": "offline",
             "prompt": "consent", "redirect_uri": redirect_uri, "state": state}
    return f"{accounts_url.rstrip('/')}/oauth/v2/auth?{urlencode(query)}"


def data_center_of(location: str | None, accounts_server: str) -> str:
    """The data centre key for `location`, else the one whose accounts server this is, else com."""
    if location and location.lower() in LOCATIONS:
        return LOCATIONS[location.lower()]
    for key, (_, accounts) in DATA_CENTERS.items():
        if origin(accounts) == accounts_server:
            return key
    return "com"


async def exchange_code(http: httpx.AsyncClient, accounts_server: str, *, client_id: str, client_secret: str,
                        code: str, redirect_uri: str) -> Grant:
    """POST {accounts}/oauth/v2/token with grant_type=authorization_code."""
    form = {"client_id": client_id, "client_secret": client_secret, "grant_type": "authorization_code",
            "code": code, "redirect_uri": redirect_uri}
    body = await _post(http, f"{accounts_server}/oauth/v2/token", data=form)
    if not body.get("refresh_token") or not body.get("access_token"):
        error = str(body.get("error") or "no refresh token in the answer")
        raise ZohoAuthError(f"Zoho did not exchange the sign-in code ({error})", code=error)
    return Grant(str(body["refresh_token"]), str(body["access_token"]), str(body.get("api_domain") or ""))


async def revoke(http: httpx.AsyncClient, accounts_server: str, refresh_token: str) -> bool:
    """POST {accounts}/oauth/v2/token/revoke?token=…; False when Zoho did not know the token."""
    response = await _answered(http.post(f"{accounts_server}/oauth/v2/token/revoke", params={"token": refresh_token},
                                         timeout=TIMEOUT), who=ACCOUNTS)
    return response.status_code == 200


async def list_organizations(http: httpx.AsyncClient, api_domain: str, access_token: str) -> list[Organization]:
    """GET {api_domain}/inventory/v1/organizations (scope ZohoInventory.settings.READ)."""
    response = await _answered(http.get(f"{api_domain}{API_PATH}/organizations", timeout=TIMEOUT,
                                        headers={"Authorization": f"Zoho-oauthtoken {access_token}"}), who="Zoho")
    body = json_or_empty(response)
    if response.status_code != 200 or body.get("code") not in (0, None):
        raise ZohoRequestError(f"Zoho refused to list the organizations: {body.get('message') or response.status_code}",
                               status=response.status_code, code=body.get("code"))
    return [Organization(str(o["organization_id"]), str(o.get("name") or o["organization_id"]))
            for o in body.get("organizations") or [] if isinstance(o, dict) and o.get("organization_id")]


async def _post(http: httpx.AsyncClient, url: str, *, data: dict[str, str]) -> dict[str, Any]:
    return json_or_empty(await _answered(http.post(url, data=data, timeout=TIMEOUT), who=ACCOUNTS))


async def _answered(request: Awaitable[httpx.Response], *, who: str) -> httpx.Response:
    """The response of `request`, once `who` answered it: unreachable or a 5xx is ZohoUnavailable."""
    try:
        response = await request
    except httpx.TransportError as exc:
        raise ZohoUnavailable(f"{who} unreachable: {type(exc).__name__}") from exc
    if response.status_code >= 500:
        raise ZohoUnavailable(f"{who} answered {response.status_code}")
    return response
