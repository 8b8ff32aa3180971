"""Syncing a handful of items now, inside the calling job: webhook events and catch-ups.

It is the manual sync's own path in small: the items are planned by `plan_items`, persisted as
a run of their own (kind `webhook` or `catchup`, so every one is visible and logged like a
manual run), and written by the same `BatchProcessor`, links and hashes included.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from app.catalog.types import CatalogItem, StoreSettings
from app.connections.schemas import ConnectionSettings
from app.connections.service import connection_settings
from app.core.context import AppContext
from app.db.session import transaction
from app.models import Connection, ItemKind, RunStatus, SyncRunItem
from app.ports.bundle import Adapters
from app.ports.store import Store
from app.syncs import state
from app.syncs.images import run_image_step
from app.syncs.planner import insert_plan, plan_items
from app.syncs.processor import BatchProcessor
from app.syncs.runner import stop_for

STORE_SETTINGS_TTL_S = 300  # units and the manage-stock option change rarely; one read per 5 min


@dataclass(frozen=True, slots=True)
class ItemResult:
    zoho_item_id: str
    sku: str | None
    action: str
    status: str
    reason: str | None


async def sync_items_now(ctx: AppContext, connection: Connection, items: list[CatalogItem], *, kind: str,
                         adapters: Adapters) -> tuple[uuid.UUID, list[ItemResult]]:
    """Plan, persist and write `items` as a small run with the job's adapters; the run id and
    each item's result."""
    settings = connection_settings(connection)
    store = await store_settings(ctx, connection, adapters.store)
    plan = await plan_items(ctx, connection, items, catalog=adapters.catalog, store=adapters.store,
                            store_settings=store, whole_catalogue=False)
    token = secrets.token_hex(16)
    async with transaction(ctx.sessionmaker) as session:
        run = await state.open_driven_run(session, connection_id=connection.id, kind=kind, token=token)
        await insert_plan(session, run, plan, status=RunStatus.RUNNING)
    await _write(ctx, run.id, connection, token, adapters, store, settings)
    return run.id, await _results(ctx, run.id)


async def _write(ctx: AppContext, run_id: uuid.UUID, connection: Connection, token: str, adapters: Adapters,
                 store: StoreSettings, settings: ConnectionSettings) -> None:
    """Drive the run under a renewed lease, like a manual run's driver. A fault ends the run
    (`cancelled`, with the reason) and is raised on: the caller's events stay queued and its next
    pass plans them afresh, so nothing waits on a stale plan and nothing is written twice."""
    async with state.keep_lease(ctx, run_id, token) as lease:
        try:
            processor = BatchProcessor(ctx=ctx, run_id=run_id, connection_id=connection.id, lease=lease,
                                       store=adapters.store, store_settings=store, settings=settings)
            await processor.run_loop()
            await run_image_step(ctx, run_id=run_id, connection_id=connection.id, adapters=adapters, store=store,
                                 settings=settings, keep_going=lease.driving)
            await state.finish(ctx, run_id, token)
        except Exception as exc:
            await stop_for(ctx, run_id, token, exc, hand_back=True)
            raise


async def _results(ctx: AppContext, run_id: uuid.UUID) -> list[ItemResult]:
    """The Zoho items' results: a variable product's row stands for its group, not for an item."""
    async with ctx.sessionmaker() as session:
        rows = await session.scalars(select(SyncRunItem).where(SyncRunItem.run_id == run_id,
                                                               SyncRunItem.kind != ItemKind.VARIABLE))
        return [ItemResult(r.zoho_item_id, r.sku, r.action, r.status, r.reason) for r in rows
                if r.zoho_item_id is not None]


async def store_settings(ctx: AppContext, connection: Connection, store: Store) -> StoreSettings:
    """The store's units and stock option, cached in Redis so a stream of webhooks does not ask
    the store for them every time."""
    key = f"skubridge:store-settings:{connection.id}:{connection.store_base_url}"
    cached = await ctx.redis.get(key)
    if cached:
        return StoreSettings(**json.loads(cached))
    settings = await store.get_store_settings()
    await ctx.redis.set(key, json.dumps({"weight_unit": settings.weight_unit, "dimension_unit": settings.dimension_unit,
                                         "manage_stock": settings.manage_stock}), ex=STORE_SETTINGS_TTL_S)
    return settings
