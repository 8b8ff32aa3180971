"""Linking a connection's Zoho side by signing in ("Connect Zoho" / "Reconnect Zoho").

The console sends the browser to `authorize_url`; Zoho's consent comes back to the callback,
which (once app/oauth/state.py has redeemed the state) calls `complete`:

1. the `accounts-server` Zoho named must be on the allowlist (app/integrations/zoho/oauth.py)
   before the client secret goes there;
2. a connection that already holds a refresh token has it revoked first, at the accounts server
   it came from: Zoho keeps 20 per user and client, and a 21st would silently invalidate the
   oldest, perhaps another connection's;
3. the code is exchanged at *that* accounts server; the `api_domain` it returns must be Zoho's
   (or trusted) too; both are kept on the connection with the data centre of `location`;
4. the organizations the grant reaches are listed: the stored one is kept when still there,
   a single one is picked, and with several the operator picks (`pick_organization`, from the
   list kept in Redis for the flow's ten minutes);
5. the refresh token is sealed into the credentials and `needs_reconnect` is cleared.

A failure after the old token was revoked leaves the connection needing a reconnect, with why.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.adapters import target_policy
from app.connections.links import clear_reconnect, mark_needs_reconnect, zoho_client
from app.connections.service import credentials_of, get_connection, store_credentials
from app.core.context import AppContext
from app.core.errors import Conflict
from app.db.session import transaction
from app.integrations.zoho import oauth
from app.integrations.zoho.datacenters import accounts_url_for
from app.integrations.zoho.errors import ZohoTargetRefused
from app.models import Connection
from app.oauth.state import STATE_MAX_AGE_S
from app.ports.errors import VendorError

CALLBACK_PATH = "/oauth/zoho/callback"


class SignInFailed(Exception):
    """The sign-in could not be completed; `reason` is a short code, `detail` says it in words."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Linked:
    connection_id: uuid.UUID
    organization_id: str | None  # None: the operator picks among several
    revoked_old: bool


def redirect_uri(ctx: AppContext) -> str:
    return f"{ctx.settings.public_base_url.rstrip('/')}{CALLBACK_PATH}"


def allowlist(ctx: AppContext) -> oauth.Allowlist:
    return oauth.Allowlist.of(accounts_url=ctx.settings.zoho_accounts_url,
                              trusted_origins=ctx.settings.zoho_trusted_origins)


def authorize_url(ctx: AppContext, connection: Connection, state: str) -> str:
    """Zoho's consent URL for `connection`; 409 when no OAuth client is configured."""
    client_id, secret = zoho_client(credentials_of(connection, keyring=ctx.keyring), ctx.settings)
    if not client_id or not secret:
        raise Conflict("no Zoho OAuth client: set ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET (or the connection's own)")
    return oauth.authorize_url(ctx.settings.zoho_accounts_url, client_id=client_id, redirect_uri=redirect_uri(ctx),
                               state=state)


async def complete(ctx: AppContext, connection_id: uuid.UUID, *, code: str, location: str | None,
                   accounts_server: str | None) -> Linked:
    """Finish the sign-in for `connection_id` (steps in the module docstring)."""
    trusted = allowlist(ctx)
    server = trusted.accounts_server(accounts_server)
    if server is None:
        raise SignInFailed("untrusted_server", f"Zoho named an accounts server that is not Zoho's: {accounts_server!r}"
                           " (ZOHO_TRUSTED_ORIGINS lists extra ones). Nothing was changed.")
    async with ctx.sessionmaker() as session:
        connection = await get_connection(session, connection_id)
        credentials = credentials_of(connection, keyring=ctx.keyring)
    client_id, client_secret = zoho_client(credentials, ctx.settings)
    transport = target_policy(ctx).transport(verify=True, refuse=ZohoTargetRefused)
    async with httpx.AsyncClient(transport=transport, headers={"User-Agent": "skubridge/0.1"}) as http:
        revoked = await _revoke_old(http, trusted, connection, credentials)
        try:
            grant = await oauth.exchange_code(http, server, client_id=client_id, client_secret=client_secret,
                                              code=code, redirect_uri=redirect_uri(ctx))
            api_domain = trusted.api_domain(grant.api_domain)
            if api_domain is None:
                raise SignInFailed("untrusted_server", f"Zoho named an API domain that is not Zoho's: "
                                   f"{grant.api_domain!r}")
            organizations = await oauth.list_organizations(http, api_domain, grant.access_token)
        except (VendorError, SignInFailed) as exc:
            detail = exc.message if isinstance(exc, VendorError) else exc.detail
            if revoked:
                await mark_needs_reconnect(ctx, connection_id, f"the sign-in failed after the old token was revoked: "
                                                               f"{detail}")
            raise SignInFailed("exchange_failed", f"Zoho did not complete the sign-in: {detail}") from exc
    if not organizations:
        raise SignInFailed("no_organization", "This Zoho account has no Inventory organization.")
    async with transaction(ctx.sessionmaker) as session:
        connection = await get_connection(session, connection_id)
        picked = _pick(connection.zoho_organization_id, organizations)
        await _store(ctx, session, connection, refresh_token=grant.refresh_token, accounts_server=server,
                     api_domain=api_domain, data_center=oauth.data_center_of(location, server), organization=picked)
    if picked is None:
        await ctx.redis.set(_pending_key(connection_id), json.dumps([[o.organization_id, o.name]
                                                                     for o in organizations]), ex=STATE_MAX_AGE_S)
    return Linked(connection_id, picked.organization_id if picked else None, revoked)


async def pending_organizations(ctx: AppContext, connection_id: uuid.UUID) -> list[oauth.Organization]:
    """The organizations a sign-in found, while the operator has yet to pick one."""
    raw = await ctx.redis.get(_pending_key(connection_id))
    return [oauth.Organization(str(i), str(n)) for i, n in json.loads(raw)] if raw else []


async def pick_organization(ctx: AppContext, session: AsyncSession, connection_id: uuid.UUID,
                            organization_id: str) -> None:
    """Set the organization the operator picked among those the sign-in found (409 otherwise)."""
    found = {o.organization_id: o for o in await pending_organizations(ctx, connection_id)}
    if organization_id not in found:
        raise Conflict("that organization is not one this sign-in found (or the choice expired): sign in again")
    connection = await get_connection(session, connection_id)
    connection.zoho_organization_id = organization_id
    connection.zoho_organization_name = found[organization_id].name[:200]
    await session.flush()
    await ctx.redis.delete(_pending_key(connection_id))


def _pending_key(connection_id: uuid.UUID) -> str:
    return f"skubridge:zoho-signin:organizations:{connection_id}"


def _pick(current: str | None, organizations: list[oauth.Organization]) -> oauth.Organization | None:
    by_id = {o.organization_id: o for o in organizations}
    if current in by_id:
        return by_id[current]
    return organizations[0] if len(organizations) == 1 else None


async def _store(ctx: AppContext, session: AsyncSession, connection: Connection, *, refresh_token: str,
                 accounts_server: str, api_domain: str, data_center: str,
                 organization: oauth.Organization | None) -> None:
    connection.zoho_data_center = data_center
    connection.zoho_accounts_base_url = accounts_server
    connection.zoho_api_base_url = api_domain
    connection.zoho_organization_id = organization.organization_id if organization else None
    connection.zoho_organization_name = organization.name[:200] if organization else None
    clear_reconnect(connection)
    await store_credentials(session, connection, {"refresh_token": refresh_token}, keyring=ctx.keyring)


async def _revoke_old(http: httpx.AsyncClient, trusted: oauth.Allowlist, connection: Connection,
                      credentials: dict[str, Any]) -> bool:
    """Revoke the stored refresh token at the accounts server it came from; True when one was
    revoked. One that Zoho no longer knows (already refused) is nothing to revoke."""
    old = credentials.get("refresh_token")
    if not old:
        return False
    server = trusted.accounts_server(accounts_url_for(connection.zoho_data_center, connection.zoho_accounts_base_url))
    if server is None:
        return False
    try:
        return await oauth.revoke(http, server, str(old))
    except VendorError:
        return False  # Zoho unreachable: the new sign-in goes ahead; the old token stays valid
