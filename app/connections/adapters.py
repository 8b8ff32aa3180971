"""The composition root: a connection's adapters, built from its credentials (decrypted once per
bundle), each under the deployment's outbound target policy (app/integrations/targets.py).

This is the one module outside app/integrations/ that names a vendor. The engine asks it for an
`Adapters` bundle and talks to the ports (app/ports/); a second store platform is a branch here
on `connection.platform`, not an edit across the engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from app.connections.links import zoho_client
from app.connections.service import credentials_of
from app.core.context import AppContext
from app.integrations.targets import TargetPolicy
from app.integrations.woocommerce.checks import WooAccess, WordPressMediaAccess
from app.integrations.woocommerce.client import WooClient
from app.integrations.woocommerce.media import WordPressMedia
from app.integrations.zoho.checks import ZohoAccess
from app.integrations.zoho.client import ZohoClient
from app.integrations.zoho.ratelimit import ZohoBudget
from app.integrations.zoho.webhooks import ZOHO_WEBHOOKS
from app.models import Connection
from app.ports.bundle import Adapters
from app.ports.catalog import CatalogWebhooks, WebhookScheme
from app.ports.checks import CatalogAccess, MediaAccess, StoreAccess
from app.ports.store import Store

_BUDGET = "zoho_budget"
# How the catalogue signs and shapes its change announcements (one catalogue platform: Zoho).
WEBHOOKS: WebhookScheme = ZOHO_WEBHOOKS


def adapters_for(connection: Connection, ctx: AppContext) -> Adapters:
    """The connection's adapters, its credentials decrypted once for all three."""
    creds = credentials_of(connection, keyring=ctx.keyring)
    return Adapters(catalog=_zoho(connection, ctx, creds), store=_store(connection, ctx, creds),
                    media=_wp_media(connection, ctx, creds))


def store_for(connection: Connection, ctx: AppContext) -> Store:
    """The connection's store alone (a job that never reads the catalogue)."""
    return _store(connection, ctx, credentials_of(connection, keyring=ctx.keyring))


def _store(connection: Connection, ctx: AppContext, creds: dict[str, Any]) -> Store:
    """The store adapter of the connection's platform (`connections.platform`, CHECKed against
    `app.models.connection.PLATFORMS`): a new platform is one more entry in `_STORES`."""
    return _STORES[connection.platform](connection, ctx, creds)


@asynccontextmanager
async def catalog_webhooks_for(connection: Connection, ctx: AppContext) -> AsyncIterator[CatalogWebhooks]:
    """The connection's catalogue, to set up or tear down its change notifications."""
    async with _zoho(connection, ctx, credentials_of(connection, keyring=ctx.keyring)) as zoho:
        yield zoho


@dataclass
class AccessChecks:
    """What "Test connection" asks (app/connections/checks.py); None where the connection holds
    no credentials for that side yet."""

    catalog: CatalogAccess | None
    store: StoreAccess | None
    media: MediaAccess | None

    async def aclose(self) -> None:
        for part in (self.catalog, self.store, self.media):
            if part is not None:
                await part.aclose()


def access_checks_for(connection: Connection, ctx: AppContext) -> AccessChecks:
    """The connection's access checks, built from what its credentials hold."""
    creds = credentials_of(connection, keyring=ctx.keyring)
    # The OAuth client may be the deployment's (ZOHO_CLIENT_ID / ZOHO_CLIENT_SECRET): a signed-in
    # connection stores only its refresh token.
    zoho_ready = bool(creds.get("refresh_token")) and all(zoho_client(creds, ctx.settings))
    store_ready = bool(creds.get("consumer_key") and creds.get("consumer_secret"))
    media = _wp_media(connection, ctx, creds)
    return AccessChecks(catalog=ZohoAccess(_zoho(connection, ctx, creds)) if zoho_ready else None,
                        store=WooAccess(_woo(connection, ctx, creds)) if store_ready else None,
                        media=WordPressMediaAccess(media) if media is not None else None)


def target_policy(ctx: AppContext) -> TargetPolicy:
    """Production calls public addresses only, unless ALLOW_PRIVATE_TARGETS says otherwise."""
    return TargetPolicy.for_deployment(environment=ctx.settings.environment,
                                       allow_private_targets=ctx.settings.allow_private_targets)


def shared_budget(ctx: AppContext) -> ZohoBudget:
    """The process's one Zoho call budget (every worker shares its windows through Redis)."""
    budget = ctx.shared.get(_BUDGET)
    if budget is None:
        settings = ctx.settings
        budget = ctx.shared[_BUDGET] = ZohoBudget(
            redis_url=settings.redis_url, redis=ctx.redis, per_minute=settings.zoho_requests_per_minute,
            daily_limit=settings.zoho_daily_limit, max_concurrency=settings.zoho_max_concurrency,
            clock=lambda: ctx.clock())  # read late: a test may set ctx.clock after this is built
    assert isinstance(budget, ZohoBudget)
    return budget


def _zoho(connection: Connection, ctx: AppContext, creds: dict[str, Any]) -> ZohoClient:
    """Zoho's client; a connection not linked yet has an empty token and organization, which Zoho
    refuses (the runs' guard, app/connections/links.py, keeps them from getting this far)."""
    client_id, client_secret = zoho_client(creds, ctx.settings)
    return ZohoClient(
        organization_id=connection.zoho_organization_id or "",
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=creds.get("refresh_token") or "",
        data_center=connection.zoho_data_center,
        api_base_url=connection.zoho_api_base_url,
        accounts_base_url=connection.zoho_accounts_base_url,
        budget=shared_budget(ctx),
        redis=ctx.redis,
        max_retry_wait=ctx.settings.zoho_max_retry_wait_seconds,
        targets=target_policy(ctx),
    )


def _woo(connection: Connection, ctx: AppContext, creds: dict[str, Any]) -> WooClient:
    return WooClient(
        base_url=connection.store_base_url,
        consumer_key=creds.get("consumer_key") or "",
        consumer_secret=creds.get("consumer_secret") or "",
        verify_tls=connection.store_verify_tls,
        max_attempts=ctx.settings.store_max_attempts,
        backoff_cap=ctx.settings.store_backoff_cap_seconds,
        targets=target_policy(ctx),
    )


_STORES: dict[str, Callable[[Connection, AppContext, dict[str, Any]], Store]] = {"woocommerce": _woo}


def _wp_media(connection: Connection, ctx: AppContext, creds: dict[str, Any]) -> WordPressMedia | None:
    """The WordPress media client, when the connection has an application password."""
    if connection.platform != "woocommerce" or not creds.get("wp_username") or not creds.get("wp_application_password"):
        return None
    return WordPressMedia(
        base_url=connection.store_base_url,
        username=creds["wp_username"],
        application_password=creds["wp_application_password"],
        verify_tls=connection.store_verify_tls,
        targets=target_policy(ctx),
    )
