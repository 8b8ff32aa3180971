"""Vendor clients for a connection, built from its decrypted credentials, each under the
deployment's outbound target policy (app/integrations/targets.py)."""

from __future__ import annotations

from app.connections.service import credentials_of
from app.core.context import AppContext
from app.integrations.targets import TargetPolicy
from app.integrations.woocommerce.client import WooClient
from app.integrations.woocommerce.media import WordPressMedia
from app.integrations.zoho.client import ZohoClient
from app.models import Connection


def target_policy(ctx: AppContext) -> TargetPolicy:
    """Production calls public addresses only, unless ALLOW_PRIVATE_TARGETS says otherwise."""
    return TargetPolicy.for_deployment(environment=ctx.settings.environment,
                                       allow_private_targets=ctx.settings.allow_private_targets)


def zoho_client_for(connection: Connection, ctx: AppContext) -> ZohoClient:
    creds = credentials_of(connection, keyring=ctx.keyring)
    return ZohoClient(
        organization_id=connection.zoho_organization_id,
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        refresh_token=creds["refresh_token"],
        data_center=connection.zoho_data_center,
        api_base_url=connection.zoho_api_base_url,
        accounts_base_url=connection.zoho_accounts_base_url,
        budget=ctx.budget,
        redis=ctx.redis,
        max_retry_wait=ctx.settings.zoho_max_retry_wait_seconds,
        targets=target_policy(ctx),
    )


def woo_client_for(connection: Connection, ctx: AppContext) -> WooClient:
    creds = credentials_of(connection, keyring=ctx.keyring)
    return WooClient(
        base_url=connection.store_base_url,
        consumer_key=creds["consumer_key"],
        consumer_secret=creds["consumer_secret"],
        verify_tls=connection.store_verify_tls,
        max_attempts=ctx.settings.store_max_attempts,
        backoff_cap=ctx.settings.store_backoff_cap_seconds,
        targets=target_policy(ctx),
    )


def wp_media_for(connection: Connection, ctx: AppContext) -> WordPressMedia | None:
    """The WordPress media client, when the connection has an application password."""
    creds = credentials_of(connection, keyring=ctx.keyring)
    if not creds.get("wp_username") or not creds.get("wp_application_password"):
        return None
    return WordPressMedia(
        base_url=connection.store_base_url,
        username=creds["wp_username"],
        application_password=creds["wp_application_password"],
        verify_tls=connection.store_verify_tls,
        targets=target_policy(ctx),
    )
