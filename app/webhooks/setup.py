"""Setting up and tearing down the Zoho side of real-time sync, and reading its state.

Enabling creates, through Zoho's API, a webhook (with a fresh secret) pointing at this service
and a workflow rule on item create/edit that calls it; disabling deletes both. Both are
idempotent: enabling an enabled connection or disabling a disabled one changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.clients import zoho_client_for
from app.core.context import AppContext
from app.core.crypto import encrypt_json
from app.core.errors import Conflict, UpstreamError
from app.core.jobs import CATCH_UP, catchup_job_id, defer_job
from app.integrations.zoho.errors import ZohoError
from app.logs.service import entry, write_logs
from app.models import Connection, RunStatus, SyncRun, WebhookEvent
from app.webhooks.schemas import WebhookRead
from app.webhooks.signature import new_secret


def intake_url(ctx: AppContext, connection: Connection) -> str:
    return f"{ctx.settings.public_base_url.rstrip('/')}/webhooks/zoho/{connection.id}"


async def enable(session: AsyncSession, ctx: AppContext, connection: Connection) -> None:
    """Create the webhook and the workflow in Zoho (once), then catch up on what changed since
    the last manual sync."""
    if connection.webhook_enabled and connection.zoho_webhook_id and connection.zoho_workflow_id:
        return
    secret = new_secret()
    name = f"skubridge {connection.id.hex[:8]}"
    try:
        async with zoho_client_for(connection, ctx) as zoho:
            webhook_id = await zoho.create_webhook(name=name, url=intake_url(ctx, connection), secret=secret)
            try:
                workflow_id = await zoho.create_item_workflow(name=name, webhook_id=webhook_id)
            except ZohoError:
                await zoho.delete_webhook(webhook_id)  # leave nothing half set up in Zoho
                raise
    except ZohoError as exc:
        raise UpstreamError(f"Zoho refused to set up the webhook: {exc.message}") from exc
    connection.webhook_secret = encrypt_json(ctx.secret_key, {"secret": secret})
    connection.zoho_webhook_id, connection.zoho_workflow_id = webhook_id, workflow_id
    connection.webhook_enabled = connection.webhook_active = True
    connection.catchup_watermark = await _last_manual_start(session, connection.id) or await session.scalar(select(func.now()))
    await _log(session, connection, "webhook enabled: Zoho webhook {} and workflow {}".format(webhook_id, workflow_id))
    defer_job(session, CATCH_UP, str(connection.id), job_id=catchup_job_id(connection.id))


async def disable(session: AsyncSession, ctx: AppContext, connection: Connection) -> None:
    """Delete the workflow, then the webhook (already gone counts as deleted)."""
    if not (connection.webhook_enabled or connection.zoho_webhook_id or connection.zoho_workflow_id):
        return
    try:
        async with zoho_client_for(connection, ctx) as zoho:
            if connection.zoho_workflow_id:
                await zoho.delete_workflow(connection.zoho_workflow_id)
            if connection.zoho_webhook_id:
                await zoho.delete_webhook(connection.zoho_webhook_id)
    except ZohoError as exc:
        raise UpstreamError(f"Zoho refused to remove the webhook: {exc.message}") from exc
    connection.webhook_enabled = connection.webhook_active = False
    connection.zoho_webhook_id = connection.zoho_workflow_id = connection.webhook_secret = None
    await _log(session, connection, "webhook disabled: Zoho webhook and workflow deleted")


async def teardown_quietly(session: AsyncSession, ctx: AppContext, connection: Connection) -> None:
    """Best-effort `disable` for a connection being deleted: Zoho being unreachable must not
    keep an operator from removing a connection; what is left behind is logged."""
    try:
        await disable(session, ctx, connection)
    except UpstreamError as exc:
        await write_logs(session, [entry(level="warning", action="webhook", status="failed",
                                         connection_id=connection.id,
                                         message=f"connection deleted, but {exc.detail}: remove the webhook "
                                                 f"{connection.zoho_webhook_id} and workflow "
                                                 f"{connection.zoho_workflow_id} in Zoho by hand")])


async def set_active(session: AsyncSession, ctx: AppContext, connection: Connection, active: bool) -> None:
    """Toggle Zoho's workflow and the local flag; turning it back on catches up at once."""
    if not connection.webhook_enabled or not connection.zoho_workflow_id:
        raise Conflict("the webhook is not enabled for this connection: PUT {\"enabled\": true} first")
    if connection.webhook_active == active:
        return
    try:
        async with zoho_client_for(connection, ctx) as zoho:
            await zoho.set_workflow_active(connection.zoho_workflow_id, active)
    except ZohoError as exc:
        raise UpstreamError(f"Zoho refused to change the workflow: {exc.message}") from exc
    connection.webhook_active = active
    await _log(session, connection, f"webhook {'activated' if active else 'deactivated'}")
    if active:
        defer_job(session, CATCH_UP, str(connection.id), job_id=catchup_job_id(connection.id))


async def read(session: AsyncSession, ctx: AppContext, connection: Connection) -> WebhookRead:
    last = await session.scalar(select(func.max(WebhookEvent.received_at))
                                .where(WebhookEvent.connection_id == connection.id))
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
        SyncRun.connection_id == connection_id, SyncRun.kind == "manual", SyncRun.status == RunStatus.COMPLETED))


async def _log(session: AsyncSession, connection: Connection, message: str) -> None:
    await write_logs(session, [entry(level="info", action="webhook", status="ok", connection_id=connection.id,
                                     message=message)])
