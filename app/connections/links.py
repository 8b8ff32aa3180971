"""A connection's link states, and the rule that runs start only on a linked connection.

A connection can exist before it is linked ("Link by signing in" creates one with a name, a store
URL and a platform only). Its two sides:

- Zoho is *linked* once a refresh token and an organization are stored. It *needs reconnecting*
  once Zoho refused that refresh token (revoked, pushed out by a 21st sign-in, or wrong): the
  reason and the time are kept on the connection until the operator signs in again.
- The store is *linked* once its consumer key and secret are stored (typed in, or written by the
  store's key flow into the same sealed credentials).

`require_linked` is the one guard: a manual or scheduled run, a preview, a webhook pass and a
catch-up each ask it before they start, so an API caller gets a 409 saying what to do and a
background path records why it skipped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.core.context import AppContext
from app.core.crypto import Keyring
from app.core.errors import Conflict
from app.db.session import rows_touched, transaction
from app.logs.service import entry, write_logs
from app.models import Connection, SyncRun
from app.ports.errors import ReconnectNeeded

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LinkState:
    zoho_linked: bool
    store_linked: bool
    needs_reconnect: bool
    reconnect_reason: str | None
    reconnect_since: datetime | None

    @property
    def ready(self) -> bool:
        """Runs may start: both sides linked, and Zoho's grant not refused."""
        return self.zoho_linked and self.store_linked and not self.needs_reconnect

    @property
    def refusal(self) -> str | None:
        """Why a run may not start, in words an operator acts on; None when it may."""
        if self.needs_reconnect:
            return f"Zoho needs reconnecting: {self.reconnect_reason}. Use \"Reconnect Zoho\" to sign in again."
        if not self.zoho_linked:
            return "Zoho is not linked yet: use \"Connect Zoho\" to sign in and pick the organization."
        if not self.store_linked:
            return "the store is not linked yet: connect the store or enter its API keys."
        return None


def link_state(connection: Connection, credentials: dict[str, Any]) -> LinkState:
    """The states of `connection`, whose opened credentials are `credentials`."""
    return LinkState(
        zoho_linked=bool(credentials.get("refresh_token")) and bool(connection.zoho_organization_id),
        store_linked=bool(credentials.get("consumer_key")) and bool(credentials.get("consumer_secret")),
        needs_reconnect=connection.zoho_reconnect_reason is not None,
        reconnect_reason=connection.zoho_reconnect_reason,
        reconnect_since=connection.zoho_reconnect_at,
    )


def state_of(connection: Connection, keyring: Keyring) -> LinkState:
    return link_state(connection, keyring.open(connection.credentials, connection_id=connection.id,
                                               purpose="credentials"))


def require_linked(connection: Connection, keyring: Keyring) -> None:
    """409 (Conflict) with the reason when a run may not start on `connection`."""
    refusal = state_of(connection, keyring).refusal
    if refusal is not None:
        raise Conflict(f"cannot start on this connection: {refusal}")


def zoho_client(credentials: dict[str, Any], settings: Settings) -> tuple[str, str]:
    """The OAuth client id and secret: the connection's own when stored, else the deployment's
    ZOHO_CLIENT_ID / ZOHO_CLIENT_SECRET."""
    if credentials.get("client_id") and credentials.get("client_secret"):
        return str(credentials["client_id"]), str(credentials["client_secret"])
    return settings.zoho_client_id, settings.zoho_client_secret.get_secret_value()


def reconnect_needed(exc: BaseException) -> ReconnectNeeded | None:
    """The ReconnectNeeded behind `exc` (itself or what it was raised from), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ReconnectNeeded):
            return seen
        seen = seen.__cause__
    return None


async def mark_needs_reconnect(ctx: AppContext, connection_id: uuid.UUID, reason: str) -> None:
    """Record that Zoho refused the connection's grant (the first reason and time are kept)."""
    async with transaction(ctx.sessionmaker) as session:
        touched = await session.execute(
            update(Connection).where(Connection.id == connection_id, Connection.zoho_reconnect_reason.is_(None))
            .values(zoho_reconnect_reason=reason[:1000], zoho_reconnect_at=func.now()))
        if rows_touched(touched):
            message = f"Zoho needs reconnecting: {reason}"
            await write_logs(session, [entry(level="error", action="connection", status="needs_reconnect",
                                             connection_id=connection_id, message=message)])
    log.warning("connection.needs_reconnect", connection_id=str(connection_id), reason=reason)


async def mark_for_run(ctx: AppContext, run_id: uuid.UUID, exc: BaseException) -> None:
    """`mark_needs_reconnect` for the connection of `run_id`, when `exc` says Zoho refused the grant."""
    refused = reconnect_needed(exc)
    if refused is None:
        return
    async with ctx.sessionmaker() as session:
        connection_id = await session.scalar(select(SyncRun.connection_id).where(SyncRun.id == run_id))
    if connection_id is not None:
        await mark_needs_reconnect(ctx, connection_id, refused.message)


def clear_reconnect(connection: Connection) -> None:
    connection.zoho_reconnect_reason = None
    connection.zoho_reconnect_at = None


async def skip_unless_linked(session: AsyncSession, connection: Connection, keyring: Keyring, *,
                             action: str) -> str | None:
    """The refusal (recorded in the sync log) when a background `action` may not start, else None."""
    refusal = state_of(connection, keyring).refusal
    if refusal is not None:
        await write_logs(session, [entry(level="warning", action=action, status="skipped",
                                         connection_id=connection.id, message=f"{action} skipped: {refusal}")])
    return refusal
