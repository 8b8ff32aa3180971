"""Zoho's webhook intake: verify, record, enqueue, answer, in milliseconds.

Order matters: the body is read with a hard limit, the signature is checked over the raw bytes
before anything parses them, and only then is the JSON read. Every request for a known
connection leaves an event row with its outcome; the sync itself happens in a job.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import Request
from sqlalchemy import select

from app.core.context import AppContext
from app.core.errors import BadRequest, NotFound, PayloadTooLarge, Unauthorized
from app.models import Connection, EventOutcome
from app.webhooks.recorder import EventRecorder
from app.webhooks.signature import verify

log = structlog.get_logger(__name__)
SIGNATURE_HEADER = "x-zoho-webhook-signature"
CONFIG_TTL_S = 1.0  # a toggle reaches the intake within a second


@dataclass(frozen=True, slots=True)
class HookConfig:
    enabled: bool
    active: bool
    secret: str | None
    loaded_at: float


@dataclass(frozen=True, slots=True)
class Accepted:
    event_id: int
    outcome: str


class HookConfigCache:
    """Connection id → webhook config, kept for a second: at a thousand events a second the
    intake must not read and decrypt the connection for every one."""

    def __init__(self) -> None:
        self._entries: dict[uuid.UUID, HookConfig | None] = {}

    async def get(self, ctx: AppContext, connection_id: uuid.UUID) -> HookConfig | None:
        cached = self._entries.get(connection_id)
        if cached is not None and time.monotonic() - cached.loaded_at < CONFIG_TTL_S:
            return cached
        async with ctx.sessionmaker() as session:
            row = (await session.execute(select(Connection.webhook_enabled, Connection.webhook_active,
                                                Connection.webhook_secret).where(Connection.id == connection_id))).first()
        if row is None:
            self._entries.pop(connection_id, None)
            return None
        secret = (ctx.keyring.open(row.webhook_secret, connection_id=connection_id, purpose="webhook_secret")["secret"]
                  if row.webhook_secret else None)
        config = HookConfig(row.webhook_enabled, row.webhook_active, secret, time.monotonic())
        self._entries[connection_id] = config
        return config


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than `limit` bytes without reading them all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def receive(ctx: AppContext, cache: HookConfigCache, recorder: EventRecorder, connection_id: uuid.UUID,
                  request: Request) -> Accepted:
    """Handle one delivery; raises a SkubridgeError (401/400/404/413) for what is refused."""
    config = await cache.get(ctx, connection_id)
    if config is None:
        raise NotFound(f"connection {connection_id} does not exist")
    if not config.enabled or not config.secret:
        raise NotFound("no webhook is set up for this connection")
    body = await read_body(request, ctx.settings.webhook_max_body_bytes)
    async def record(item_id: str | None, sku: str | None, outcome: str, detail: str | None) -> int:
        return await recorder.record(ctx, connection_id=connection_id, item_id=item_id, sku=sku, outcome=outcome,
                                     detail=detail)

    if not verify(config.secret, request.query_params.multi_items(), body, request.headers.get(SIGNATURE_HEADER)):
        await record(None, None, EventOutcome.REJECTED, "bad or missing signature")
        log.warning("webhook.bad_signature", connection_id=str(connection_id))
        raise Unauthorized("the webhook signature is missing or does not match")
    item_id, sku = _item_of(body)
    if item_id is None:
        await record(None, None, EventOutcome.REJECTED, sku or "the body is not an item")
        raise BadRequest(sku or "the body is not a Zoho item: no item_id")
    outcome = EventOutcome.QUEUED if config.active else EventOutcome.IGNORED
    event_id = await record(item_id, sku, outcome, None if config.active else "the webhook is inactive")
    return Accepted(event_id, outcome)


def _item_of(body: bytes) -> tuple[str | None, str | None]:
    """(item_id, sku) from `{"item": {...}}` or a bare item; (None, reason) when it is not one.
    The payload is only a hint: the job fetches the item's real state from Zoho."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None, "the body is not JSON"
    item = data.get("item", data) if isinstance(data, dict) else None
    if not isinstance(item, dict) or not str(item.get("item_id") or "").strip():
        return None, None
    item_id = str(item["item_id"]).strip()
    if len(item_id) > 64 or not item_id.isalnum():
        return None, "the item_id is not a Zoho id"
    sku = item.get("sku")
    return item_id, (str(sku)[:200] if sku not in (None, "") else None)
