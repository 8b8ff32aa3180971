"""Zoho's webhook intake: verify, record, enqueue, answer, in milliseconds.

Order matters: a header that cannot be a signature is refused before the body is read, the body
is read with a hard limit, the signature is checked over the raw bytes before anything parses
them, and only then is the JSON read. A verified request leaves an event row with its outcome
(a signed body that is not an item too: only Zoho can send those); the sync itself happens in a
job. What is refused before that leaves no row: see app/webhooks/rejections.py.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Self

from fastapi import Request
from sqlalchemy import select

from app.connections.adapters import WEBHOOKS
from app.core.context import AppContext
from app.core.errors import BadRequest, NotFound, PayloadTooLarge
from app.models import Connection, EventOutcome
from app.webhooks.recorder import EventRecorder
from app.webhooks.rejections import Clock, Reason, Rejections

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


@dataclass(frozen=True, slots=True)
class Intake:
    """What the intake keeps between requests, one per app: its caches and batches belong to
    the app's event loop."""

    cache: HookConfigCache
    recorder: EventRecorder
    rejections: Rejections

    @classmethod
    def create(cls, ctx: AppContext, *, clock: Clock = time.time) -> Self:
        return cls(HookConfigCache(), EventRecorder(), Rejections(ctx.redis, clock=clock))

    async def aclose(self) -> None:
        """Write the refusals of the minute so far, and give the recorder's connection back."""
        self.rejections.flush()
        await self.recorder.aclose()


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
            columns = select(Connection.webhook_enabled, Connection.webhook_active, Connection.webhook_secret)
            row = (await session.execute(columns.where(Connection.id == connection_id))).first()
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


async def receive(ctx: AppContext, intake: Intake, connection_id: uuid.UUID, request: Request) -> Accepted:
    """Handle one delivery; raises a SkubridgeError (401/400/404/413/429) for what is refused."""
    rejections = intake.rejections
    rejections.tick()
    config = await intake.cache.get(ctx, connection_id)
    if config is None:
        raise rejections.refuse(None, Reason.UNKNOWN_CONNECTION, NotFound(f"connection {connection_id} does not exist"))
    if not config.enabled or not config.secret:
        raise rejections.refuse(connection_id, Reason.WEBHOOK_DISABLED,
                                NotFound("no webhook is set up for this connection"))
    signature = request.headers.get(WEBHOOKS.signature_header)
    if not WEBHOOKS.can_be_signature(signature):  # it cannot match: refused without reading the body
        reason = Reason.BAD_SIGNATURE if signature else Reason.MISSING_SIGNATURE
        raise await rejections.bad_signature(connection_id, reason)
    try:
        body = await read_body(request, ctx.settings.webhook_max_body_bytes)
    except PayloadTooLarge as exc:
        raise rejections.refuse(connection_id, Reason.TOO_LARGE, exc) from None
    if not WEBHOOKS.verify(config.secret, request.query_params.multi_items(), body, signature):
        raise await rejections.bad_signature(connection_id, Reason.BAD_SIGNATURE)
    return await _record(ctx, intake, connection_id, config, body)


async def _record(ctx: AppContext, intake: Intake, connection_id: uuid.UUID, config: HookConfig,
                  body: bytes) -> Accepted:
    """Record a verified delivery: queued, ignored (the webhook is inactive) or rejected (not an
    item; kept as a row, since only Zoho can sign one and it says something is wrong there)."""
    async def record(item_id: str | None, sku: str | None, outcome: str, detail: str | None) -> int:
        return await intake.recorder.record(ctx, connection_id=connection_id, item_id=item_id, sku=sku,
                                            outcome=outcome, detail=detail)

    item_id, sku = WEBHOOKS.item_of(body)
    if item_id is None:
        await record(None, None, EventOutcome.REJECTED, sku or "the body is not an item")
        raise intake.rejections.refuse(connection_id, Reason.NOT_AN_ITEM,
                                       BadRequest(sku or "the body is not a Zoho item: no item_id"))
    outcome = EventOutcome.QUEUED if config.active else EventOutcome.IGNORED
    event_id = await record(item_id, sku, outcome, None if config.active else "the webhook is inactive")
    return Accepted(event_id, outcome)

