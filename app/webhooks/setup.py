"""Setting up and tearing down the Zoho side of real-time sync, and reading its state.

Enabling creates, through Zoho's API, a webhook (with a fresh secret) pointing at this service
and a workflow rule on item create/edit that calls it; disabling deletes both. Both are
idempotent: enabling an enabled connection or disabling a disabled one changes nothing.

No Zoho call happens inside a database transaction: each change reads the connection in a
short session of its own, calls Zoho with nothing open (Zoho's budget may make a call wait a
minute), then records the result in a short transaction whose UPDATE is guarded by the Zoho
ids it read. Changes of one connection's webhook (enable, disable, toggle, and deleting the
connection) are serialised by a Redis lock per connection, held across read, call and record,
so two concurrent enables create one webhook and one workflow. The lock is redis-py's `Lock`:
an owner token, so only its holder releases it, and a timeout, so a process that dies holding
it blocks the connection for `SETUP_LOCK_TIMEOUT_S` at most. Should a holder outlive the
timeout, the guarded UPDATE still refuses to record over a change it did not see, and what
that holder created in Zoho is removed again.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from redis.exceptions import LockError
from sqlalchemy import Update, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.adapters import WEBHOOKS, catalog_webhooks_for
from app.connections.service import delete_connection, get_connection
from app.core.context import AppContext
from app.core.errors import Conflict, UpstreamError
from app.core.jobs import CATCH_UP, catchup_job_id
from app.db.session import rows_touched, transaction
from app.logs.service import entry, write_logs
from app.models import FULL_RUN_KINDS, Connection, EventOutcome, RunStatus, SyncRun, WebhookEvent
from app.ports.errors import VendorError
from app.webhooks.schemas import WebhookRead

SETUP_LOCK_TIMEOUT_S = 300  # longer than a set-up's Zoho calls take, budget waits included
SETUP_LOCK_WAIT_S = 120  # a second request waits this long for the first before a 409


def intake_url(ctx: AppContext, connection: Connection) -> str:
    return f"{ctx.settings.public_base_url.rstrip('/')}/webhooks/zoho/{connection.id}"


@contextlib.asynccontextmanager
async def serialised(ctx: AppContext, connection_id: uuid.UUID) -> AsyncIterator[None]:
    """Hold the connection's set-up lock for the block (409 when another change holds it too long)."""
    lock = ctx.redis.lock(f"skubridge:webhook-setup:{connection_id}", timeout=SETUP_LOCK_TIMEOUT_S,
                          blocking_timeout=SETUP_LOCK_WAIT_S)
    if not await lock.acquire():
        raise Conflict("another change to this connection's webhook is in progress: try again shortly")
    try:
        yield
    finally:
        with contextlib.suppress(LockError):  # expired and maybe taken over: not ours to release
            await lock.release()


async def _load(ctx: AppContext, connection_id: uuid.UUID) -> Connection:
    """The connection as it is now, read in a session closed before any Zoho call."""
    async with ctx.sessionmaker() as session:
        return await get_connection(session, connection_id)


async def enable(ctx: AppContext, connection_id: uuid.UUID) -> None:
    """Create the webhook and the workflow in Zoho (once), then catch up on what changed since
    the last full sync (manual or scheduled)."""
    async with serialised(ctx, connection_id):
        connection = await _load(ctx, connection_id)
        if connection.webhook_enabled and connection.zoho_webhook_id and connection.zoho_workflow_id:
            return
        secret = WEBHOOKS.new_secret()
        webhook_id, workflow_id = await _create_in_zoho(ctx, connection, secret)
        if not await _record_enabled(ctx, connection, secret, webhook_id, workflow_id):
            await _remove_from_zoho(ctx, connection, webhook_id=webhook_id, workflow_id=workflow_id, quiet=True)
            raise Conflict("the connection changed while its webhook was being set up: try again")
    await ctx.redis.enqueue_job(CATCH_UP, str(connection_id), _job_id=catchup_job_id(connection_id))


async def _create_in_zoho(ctx: AppContext, connection: Connection, secret: str) -> tuple[str, str]:
    name = f"skubridge {connection.id.hex[:8]}"
    try:
        async with catalog_webhooks_for(connection, ctx) as zoho:
            webhook_id = await zoho.create_webhook(name=name, url=intake_url(ctx, connection), secret=secret)
            try:
                workflow_id = await zoho.create_item_workflow(name=name, webhook_id=webhook_id)
            except VendorError:
                await zoho.delete_webhook(webhook_id)  # leave nothing half set up in Zoho
                raise
    except VendorError as exc:
        raise UpstreamError(f"Zoho refused to set up the webhook: {exc.message}") from exc
    return webhook_id, workflow_id


async def _record_enabled(ctx: AppContext, connection: Connection, secret: str, webhook_id: str,
                          workflow_id: str) -> bool:
    """Record the new webhook unless the connection's Zoho ids changed (or it was deleted)
    since they were read."""
    async with transaction(ctx.sessionmaker) as session:
        watermark = await _last_manual_start(session, connection.id) or await session.scalar(select(func.now()))
        sealed = ctx.keyring.seal({"secret": secret}, connection_id=connection.id, purpose="webhook_secret")
        result = await session.execute(_unchanged(connection).values(
            webhook_secret=sealed, zoho_webhook_id=webhook_id, zoho_workflow_id=workflow_id, webhook_enabled=True,
            webhook_active=True, catchup_watermark=watermark))
        if not rows_touched(result):
            return False
        await _log(session, connection, f"webhook enabled: Zoho webhook {webhook_id} and workflow {workflow_id}")
    return True


def _unchanged(connection: Connection) -> Update:
    """UPDATE of the connection guarded by the Zoho ids read before the Zoho call."""
    return update(Connection).where(
        Connection.id == connection.id,
        Connection.zoho_webhook_id.is_not_distinct_from(connection.zoho_webhook_id),
        Connection.zoho_workflow_id.is_not_distinct_from(connection.zoho_workflow_id))


async def disable(ctx: AppContext, connection_id: uuid.UUID) -> None:
    """Delete the workflow, then the webhook (already gone counts as deleted)."""
    async with serialised(ctx, connection_id):
        connection = await _load(ctx, connection_id)
        if not (connection.webhook_enabled or connection.zoho_webhook_id or connection.zoho_workflow_id):
            return
        await _remove_from_zoho(ctx, connection, webhook_id=connection.zoho_webhook_id,
                                workflow_id=connection.zoho_workflow_id)
        async with transaction(ctx.sessionmaker) as session:
            await session.execute(_unchanged(connection).values(
                webhook_enabled=False, webhook_active=False, zoho_webhook_id=None, zoho_workflow_id=None,
                webhook_secret=None))
            await _log(session, connection, "webhook disabled: Zoho webhook and workflow deleted")


async def _remove_from_zoho(ctx: AppContext, connection: Connection, *, webhook_id: str | None,
                            workflow_id: str | None, quiet: bool = False) -> None:
    try:
        async with catalog_webhooks_for(connection, ctx) as zoho:
            if workflow_id:
                await zoho.delete_workflow(workflow_id)
            if webhook_id:
                await zoho.delete_webhook(webhook_id)
    except VendorError as exc:
        if not quiet:
            raise UpstreamError(f"Zoho refused to remove the webhook: {exc.message}") from exc


async def delete_with_webhook(ctx: AppContext, connection_id: uuid.UUID) -> None:
    """Delete a connection, its Zoho webhook and workflow first. Zoho being unreachable must not
    keep an operator from removing a connection: what is left behind in Zoho is logged."""
    async with serialised(ctx, connection_id):
        connection = await _load(ctx, connection_id)
        failure = None
        if connection.zoho_webhook_id or connection.zoho_workflow_id:
            try:
                await _remove_from_zoho(ctx, connection, webhook_id=connection.zoho_webhook_id,
                                        workflow_id=connection.zoho_workflow_id)
            except UpstreamError as exc:
                failure = exc
        async with transaction(ctx.sessionmaker) as session:
            if failure is not None:
                await write_logs(session, [entry(
                    level="warning", action="webhook", status="failed", connection_id=connection.id,
                    message=f"connection deleted, but {failure.detail}: remove the webhook "
                            f"{connection.zoho_webhook_id} and workflow {connection.zoho_workflow_id} "
                            "in Zoho by hand")])
            await delete_connection(session, await get_connection(session, connection_id))


async def set_active(ctx: AppContext, connection_id: uuid.UUID, active: bool) -> None:
    """Toggle Zoho's workflow and the local flag; turning it back on catches up at once."""
    async with serialised(ctx, connection_id):
        connection = await _load(ctx, connection_id)
        if not connection.webhook_enabled or not connection.zoho_workflow_id:
            raise Conflict("the webhook is not enabled for this connection: PUT {\"enabled\": true} first")
        if connection.webhook_active == active:
            return
        try:
            async with catalog_webhooks_for(connection, ctx) as zoho:
                await zoho.set_workflow_active(connection.zoho_workflow_id, active)
        except VendorError as exc:
            raise UpstreamError(f"Zoho refused to change the workflow: {exc.message}") from exc
        async with transaction(ctx.sessionmaker) as session:
            await session.execute(_unchanged(connection).values(webhook_active=active))
            await _log(session, connection, f"webhook {'activated' if active else 'deactivated'}")
    if active:
        await ctx.redis.enqueue_job(CATCH_UP, str(connection_id), _job_id=catchup_job_id(connection_id))


async def read(session: AsyncSession, ctx: AppContext, connection: Connection) -> WebhookRead:
    """`last_received_at` is the newest event Zoho delivered and the intake took, so a refusal
    never moves it: an unverified request leaves no row, and a rejected row (a signed body that
    is not an item, or a forged request an older intake recorded) does not count."""
    last = await session.scalar(select(func.max(WebhookEvent.received_at)).where(
        WebhookEvent.connection_id == connection.id, WebhookEvent.outcome != EventOutcome.REJECTED))
    settings = connection.settings or {}
    return WebhookRead(
        enabled=connection.webhook_enabled, active=connection.webhook_active,
        url=intake_url(ctx, connection) if connection.webhook_enabled else None,
        last_received_at=last, zoho_webhook_id=connection.zoho_webhook_id,
        zoho_workflow_id=connection.zoho_workflow_id,
        catchup_interval_minutes=int(settings.get("catchup_interval_minutes", 15)),
        last_catchup_at=connection.last_catchup_at, catchup_watermark=connection.catchup_watermark,
    )


async def _last_manual_start(session: AsyncSession, connection_id: uuid.UUID) -> datetime | None:
    return await session.scalar(select(func.max(SyncRun.started_at)).where(
        SyncRun.connection_id == connection_id, SyncRun.kind.in_(FULL_RUN_KINDS),
        SyncRun.status == RunStatus.COMPLETED))


async def _log(session: AsyncSession, connection: Connection, message: str) -> None:
    await write_logs(session, [entry(level="info", action="webhook", status="ok", connection_id=connection.id,
                                     message=message)])
