"""Retry failed: a new run of the items an earlier run failed, planned again from Zoho.

What "failed items" means: the items of that run whose outcome is `failed` (the store refused
them, or their variable product was not written). An item that was synced but whose image failed
is synced, not failed: it is not retried here. The retry does not replay the stored payloads,
which may be stale by now: it reads those items' current records from Zoho (one `/itemdetails`
call per 100 items; a variable product brings its whole item group, one call per group, as a
webhook's item does) and plans them through the manual sync's own decision path
(`plan_items`, as webhook and catch-up passes do), so an item fixed in Zoho since is written as
it is now, an unchanged one costs no store write, and one that Zoho no longer has is left to the
next full sync, which retires it.

The retry is a run of its own, kind `retry`, that names its source (`retry_of`). It is queued,
planned by the plan job and driven by the drive job exactly like a manual run, so it can be
paused, resumed and cancelled, and it shows on the status page: it is one of the "steered" runs
(`STEERED_RUN_KINDS`: manual, scheduled, retry), of which a connection has one active at a time
and whose newest the status page follows. So the operator who clicks "Retry failed" sees that
run's progress, and a double click finds the first retry active and starts nothing (409, and the
database's one-active index decides a race). It is not a "full" run: it moves no webhook
watermark; like one, once completed it settles the webhook events of the items it synced that
came before it started (app/webhooks/outcomes.py). A retry always runs in `standard` mode, even of a
verify run: a verify run's repairs come from reading the whole store.

A run's failed items can be retried again once its retry has finished (the store's SKU match and
the durable links make that harmless); the status page then offers "Retry failed" for the retry
run itself, whose failed items are the ones that failed again.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.types import CatalogItem
from app.connections.adapters import adapters_for
from app.connections.service import get_connection
from app.core.context import AppContext
from app.core.crypto import Keyring
from app.core.errors import Conflict
from app.db.session import transaction
from app.models import (
    ACTIVE_RUN_STATUSES,
    STEERED_RUN_KINDS,
    Connection,
    ItemKind,
    ItemStatus,
    RunKind,
    RunMode,
    RunStatus,
    SyncRun,
    SyncRunItem,
)
from app.ports.catalog import CatalogSource
from app.syncs import state
from app.syncs.planner import Plan, insert_plan, plan_items
from app.syncs.service import get_run, start_sync

log = structlog.get_logger(__name__)


async def start_retry(session: AsyncSession, run_id: uuid.UUID, *, keyring: Keyring) -> SyncRun:
    """Queue a run of `run_id`'s failed items; 404 for an unknown run, 409 (saying why) while
    it is still active, when it has no failed items, or when the connection has an active run."""
    source = await get_run(session, run_id, for_update=True)  # two retries of one run queue up here
    if source.status in ACTIVE_RUN_STATUSES:
        raise Conflict(f"sync {source.id} is still {source.status}: its failed items can be retried once it "
                       "has finished")
    failed = await session.scalar(select(func.count()).select_from(SyncRunItem).where(
        SyncRunItem.run_id == source.id, SyncRunItem.status == ItemStatus.FAILED))
    if not failed:
        raise Conflict(f"sync {source.id} has no failed items to retry")
    active = await session.scalar(select(SyncRun).where(SyncRun.connection_id == source.connection_id,
                                                        SyncRun.kind.in_(STEERED_RUN_KINDS),
                                                        SyncRun.status.in_(ACTIVE_RUN_STATUSES)))
    if active is not None and active.retry_of == source.id:
        raise Conflict(f"the failed items of sync {source.id} are already being retried by sync {active.id} "
                       f"(status {active.status})")
    if active is not None:
        raise Conflict(f"connection already has an active sync {active.id} ({active.kind}, status {active.status}): "
                       "retry its failed items once that one has finished")
    connection = await get_connection(session, source.connection_id)
    return await start_sync(session, connection, keyring=keyring, kind=RunKind.RETRY, mode=RunMode.STANDARD,
                            retry_of=source.id)


async def plan_retry_items(ctx: AppContext, *, run: SyncRun, connection: Connection, token: str) -> str | None:
    """Plan a retry run from Zoho's current records of its source's failed items, and start it
    with them atomically; the run's status after, or None when this job lost its lease."""
    item_ids, group_ids = await failed_targets(ctx, run.retry_of)
    async with adapters_for(connection, ctx) as adapters:
        store_settings = await adapters.store.get_store_settings()  # first: wrong store credentials fail the run
        items = await read_again(adapters.catalog, item_ids, group_ids)
        plan = await plan_items(ctx, connection, items, catalog=adapters.catalog, store=adapters.store,
                                store_settings=store_settings, whole_catalogue=False) if items else Plan()
    async with transaction(ctx.sessionmaker) as session:
        status = await state.start_planned(session, run_id=run.id, token=token)
        if status is None:
            return None
        if status == RunStatus.CANCELLED:  # cancelled while planning: nothing of it is written
            plan = Plan(rows=[replace(row, status=ItemStatus.CANCELLED) if row.status == ItemStatus.PENDING else row
                              for row in plan.rows])
        await insert_plan(session, run, plan, status=status)
    log.info("retry.planned", run_id=str(run.id), retry_of=str(run.retry_of), items=len(plan.rows), status=status)
    return status


async def failed_targets(ctx: AppContext, run_id: uuid.UUID | None) -> tuple[list[str], list[str]]:
    """The Zoho items (simple products and variants) and the item groups (variable products)
    that failed in run `run_id`; nothing when the source is gone."""
    if run_id is None:
        return [], []
    async with ctx.sessionmaker() as session:
        rows = (await session.execute(
            select(SyncRunItem.kind, SyncRunItem.zoho_item_id)
            .where(SyncRunItem.run_id == run_id, SyncRunItem.status == ItemStatus.FAILED,
                   SyncRunItem.zoho_item_id.is_not(None))
            .order_by(SyncRunItem.id))).all()
    items = [zoho_id for kind, zoho_id in rows if zoho_id is not None and kind != ItemKind.VARIABLE]
    groups = [zoho_id for kind, zoho_id in rows if zoho_id is not None and kind == ItemKind.VARIABLE]
    return list(dict.fromkeys(items)), list(dict.fromkeys(groups))


async def read_again(catalog: CatalogSource, item_ids: list[str], group_ids: list[str]) -> list[CatalogItem]:
    """Zoho's current records of the items, and of the members of each group that no failed
    variant already brings (the planner reads each variant's whole group itself)."""
    items = await catalog.get_item_details(item_ids) if item_ids else []
    brought = {item.group_id for item in items if item.group_id}
    for group_id in group_ids:
        if group_id in brought:
            continue
        group = await catalog.get_group(group_id)
        if group is not None and group.items:
            items.append(group.items[0])  # one member brings the group: the planner reads it whole
    return items
