"""Zoho Accounts' side of the authorization-code flow: the consent page, the code exchange, the
20-refresh-token cap and `GET /organizations`' list (shared/reference/operator.md §1).

- `GET /oauth/v2/auth` validates `client_id`, `response_type=code`, `redirect_uri` and `scope`
  and shows a page with "Accept" and "Deny" buttons (a bad request is an error page, never a
  redirect, as Zoho does for an unregistered redirect URI). Accept redirects to `redirect_uri`
  with `code`, `location`, `accounts-server` and `state`; Deny with `error=access_denied` and
  `state`. The deny parameter is UNVERIFIED: Zoho's pages only say "the server will return an
  error"; `access_denied` is the OAuth 2.0 spelling (RFC 6749 §4.1.2.1).
- Multi-DC: with the `oauth_home_dc` knob set to another simulator's base URL, this one plays
  accounts.zoho.com for a user who lives elsewhere: the consent request is forwarded there (302,
  same query), and that server's consent page issues the code, naming itself as
  `accounts-server` and its `oauth_location` knob as `location`. The client must exchange the
  code at that server: this one does not know it.
- Codes live 2 minutes (the state's clock) and are single use; the exchange checks the client,
  its secret and the redirect URI given at consent.
- Each exchange issues a new refresh token. Zoho keeps 20 per user and client: the 21st silently
  invalidates the oldest (and its access tokens). One simulated user (`USER`) signs in, so the
  cap counts per client; `refresh_token_cap` is a knob.
- `redirect_uris` (knob): when non-empty, the only redirect URIs accepted (Zoho requires an exact
  match with a registered one); empty accepts any http(s) URI.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from simulators.zoho.state import ZohoState

CODE_TTL_SECONDS = 120
USER = "merchant@example.com"
# `Service.scope.OPERATION` (…/oauth/web-server-applications.html); Zoho spells ALL as "all" too.
_SCOPE = re.compile(r"^Zoho[A-Za-z]+\.[A-Za-z]+\.(ALL|all|READ|CREATE|UPDATE|DELETE)$")


class ConsentRefused(Exception):
    """The consent request itself is wrong: Zoho shows an error page, nothing is redirected."""


@dataclass(frozen=True)
class Grant:
    client_id: str
    redirect_uri: str
    scope: str
    issued_at: float


class Consent:
    """Codes handed out at consent and refresh tokens in the order issued (for the cap). The
    exchange runs under ZohoState's lock (its token endpoint); `approve` takes it itself."""

    def __init__(self, state: ZohoState) -> None:
        self._state = state
        self.codes: dict[str, Grant] = {}
        self.issued: dict[str, list[str]] = {}  # client_id → its refresh tokens, oldest first
        self.codes_exchanged = 0

    def check_request(self, params: dict[str, str]) -> None:
        """Raise ConsentRefused unless the request names a known client, `code`, a usable
        redirect URI and well-formed scopes."""
        if params.get("client_id") not in self._state.clients:
            raise ConsentRefused("Invalid Client: the client_id is not known to Zoho Accounts.")
        if params.get("response_type") != "code":
            raise ConsentRefused("Invalid response_type: only 'code' is supported.")
        redirect = params.get("redirect_uri", "")
        registered = self._state.knobs.redirect_uris
        if not redirect.startswith(("http://", "https://")) or (registered and redirect not in registered):
            raise ConsentRefused("Invalid Redirect Uri: it does not match the client's registered URIs.")
        scopes = [s.strip() for s in params.get("scope", "").split(",") if s.strip()]
        if not scopes or not all(_SCOPE.match(s) for s in scopes):
            raise ConsentRefused("Invalid OAuth Scope: scopes are Service.scope.OPERATION, comma-separated.")

    def approve(self, params: dict[str, str], *, accounts_server: str) -> str:
        """The redirect after "Accept": a fresh code for this client and redirect URI."""
        self.check_request(params)
        code = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        with self._state._lock:  # the server's loop and a test thread share the state
            self.codes[code] = Grant(params["client_id"], params["redirect_uri"], params["scope"], self._state.now())
        query = {"code": code, "location": self._state.knobs.oauth_location, "accounts-server": accounts_server}
        return _with(params["redirect_uri"], query, params.get("state"))

    def deny(self, params: dict[str, str]) -> str:
        """The redirect after "Deny" (error=access_denied: see the module docstring)."""
        self.check_request(params)
        return _with(params["redirect_uri"], {"error": "access_denied"}, params.get("state"))

    def exchange(self, params: dict[str, str], *, api_domain: str) -> dict[str, Any]:
        """grant_type=authorization_code: tokens, or Zoho's HTTP-200 `error` body."""
        client_id = params.get("client_id", "")
        if self._state.clients.get(client_id) != params.get("client_secret") or client_id not in self._state.clients:
            return {"error": "invalid_client"}
        grant = self.codes.pop(params.get("code", ""), None)  # single use, right or wrong
        if grant is None or grant.client_id != client_id or self._state.now() - grant.issued_at > CODE_TTL_SECONDS:
            return {"error": "invalid_code"}
        if grant.redirect_uri != params.get("redirect_uri"):
            return {"error": "invalid_redirect_uri"}  # Zoho's exact error for this is unverified
        refresh = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        self._state.refresh_tokens[refresh] = client_id
        self._cap(client_id, refresh)
        self.codes_exchanged += 1
        body = self._state.issue_access_token(refresh, api_domain)
        return {**body, "refresh_token": refresh, "scope": grant.scope}

    def _cap(self, client_id: str, refresh: str) -> None:
        """Zoho keeps `refresh_token_cap` (20) per user and client: the oldest goes, silently."""
        issued = [t for t in self.issued.get(client_id, []) if t in self._state.refresh_tokens]
        issued.append(refresh)
        while len(issued) > self._state.knobs.refresh_token_cap:
            self._state.revoke_token(issued.pop(0))
        self.issued[client_id] = issued

    def organizations(self) -> list[dict[str, Any]]:
        """`GET /organizations`: the simulated org, then the `extra_organizations` knob's."""
        own = {"organization_id": self._state.organization_id, "name": self._state.organization_name,
               "is_default_org": True, "currency_code": "USD", "time_zone": "Etc/UTC"}
        extra = [{"is_default_org": False, "currency_code": "USD", "time_zone": "Etc/UTC", **org}
                 for org in self._state.knobs.extra_organizations]
        return [own, *extra]


def _with(url: str, query: dict[str, str], state: str | None) -> str:
    params = query | ({"state": state} if state is not None else {})
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def consent_page(params: dict[str, str], scopes: list[str]) -> str:
    """Zoho's consent screen, reduced to what a test drives: the scopes and two buttons."""
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in params.items())
    items = "".join(f"<li>{escape(s)}</li>" for s in scopes)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Zoho Accounts</title></head>'
            f'<body><main><h1>skubridge would like to access your Zoho account</h1><p>Signed in as {USER}</p>'
            f'<ul>{items}</ul>'
            f'<form method="post" action="/oauth/v2/auth/approve">{hidden}<button type="submit">Accept</button></form>'
            f'<form method="post" action="/oauth/v2/auth/deny">{hidden}<button type="submit">Deny</button></form>'
            f'</main></body></html>')


def error_page(message: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Zoho Accounts</title></head>'
            f'<body><main><h1>Error</h1><p>{escape(message)}</p></main></body></html>')
