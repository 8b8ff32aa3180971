"""Planning a run: read the Zoho catalogue, match it against the links and the store by SKU,
and persist one run item per product with its planned action and the exact content to write.

Everything the processing step needs is in the run items, so a run survives restarts without
asking Zoho again, and the plan itself is the audit of what the run meant to do.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.types import CatalogItem, StoreProductRef, StoreSettings
from app.connections.clients import woo_client_for, zoho_client_for
from app.connections.schemas import ConnectionSettings
from app.connections.service import connection_settings
from app.core.context import AppContext
from app.db.session import transaction
from app.integrations.woocommerce.client import WooClient
from app.integrations.zoho.client import ZohoClient
from app.logs.service import entry, write_logs
from app.models import Connection, ItemAction, ItemStatus, LinkKind, ProductLink, RunStatus, SyncRun, SyncRunItem
from app.syncs.drafts import UnitError, build_draft, content_hash, creation_fields

log = structlog.get_logger(__name__)

DETAIL_FIELDS = {"description", "weight", "dimensions"}
INSERT_CHUNK = 1000


@dataclass
class Plan:
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, item: CatalogItem, action: ItemAction, status: ItemStatus, *, reason: str | None = None,
            payload: dict[str, Any] | None = None, digest: str | None = None, woo_id: int | None = None) -> None:
        self.rows.append({"zoho_item_id": item.zoho_item_id, "sku": item.sku, "name": item.name[:2000],
                          "action": action, "status": status, "reason": reason, "payload": payload,
                          "content_hash": digest, "woo_id": woo_id})

    def summary(self) -> Counter[str]:
        return Counter(str(row["action"]) for row in self.rows)


async def fetch_catalogue(zoho: ZohoClient) -> list[CatalogItem]:
    """Every Zoho item, once each (pages can overlap when items change during the scan)."""
    items: dict[str, CatalogItem] = {}
    async for page in zoho.iter_item_pages():
        items.update((item.zoho_item_id, item) for item in page if item.zoho_item_id)
    return list(items.values())


async def complete_details(zoho: ZohoClient, items: list[CatalogItem], settings: ConnectionSettings) -> list[CatalogItem]:
    """List rows that lack a field the connection syncs are completed from /itemdetails, 100
    ids a call. Zoho's list rows normally carry everything, so this usually costs nothing;
    stock per warehouse is the exception (details only)."""
    by_place = bool(settings.warehouse_ids) and "stock" in settings.sync_fields
    if not DETAIL_FIELDS & set(settings.sync_fields) and not by_place:
        return items
    # List rows carry no per-warehouse stock: counting chosen warehouses needs the details.
    partial = [item.zoho_item_id for item in items if item.partial or (by_place and not item.stock_by_place)]
    if not partial:
        return items
    detailed = {item.zoho_item_id: item for item in await zoho.get_item_details(partial)}
    return [detailed.get(item.zoho_item_id, item) for item in items]


async def build_plan(ctx: AppContext, connection: Connection) -> Plan:
    """Decide, for every Zoho item, what this run will do with it."""
    async with zoho_client_for(connection, ctx) as zoho, woo_client_for(connection, ctx) as woo:
        store = await woo.get_store_settings()  # first: wrong store credentials fail the run here
        catalogue = await fetch_catalogue(zoho)
        return await plan_items(ctx, connection, catalogue, zoho=zoho, woo=woo, store=store)


async def plan_items(ctx: AppContext, connection: Connection, items: list[CatalogItem], *, zoho: ZohoClient,
                     woo: WooClient, store: StoreSettings, whole_catalogue: bool = True) -> Plan:
    """The shared decision path of manual runs, webhook events and catch-ups.

    With the whole catalogue at hand, a SKU is duplicated when two Zoho items carry it; for a
    few items (a webhook, a catch-up), when another Zoho item is already linked under it.
    """
    settings = connection_settings(connection)
    links = await _links(ctx, connection.id)
    sku_counts = Counter((item.sku or "").lower() for item in items if item.sku)
    if not whole_catalogue:
        ids = {item.zoho_item_id for item in items}
        sku_counts.update((link.sku or "").lower() for link in links.values() if link.sku and link.zoho_id not in ids)
    plan = Plan()
    candidates = await complete_details(zoho, _screen(items, plan, sku_counts), settings)
    found = await _look_up(woo, [i for i in candidates if i.zoho_item_id not in links])
    for item in candidates:
        _decide(item, plan, settings=settings, store=store, link=links.get(item.zoho_item_id),
                found=found.get((item.sku or "").lower()))
    return plan


def _screen(catalogue: list[CatalogItem], plan: Plan, sku_counts: Counter[str]) -> list[CatalogItem]:
    """Skip what must never be guessed at; return the items that can be synced."""
    candidates = []
    for item in catalogue:
        if not item.sku:
            plan.add(item, ItemAction.SKIP, ItemStatus.SKIPPED, reason="no SKU in Zoho")
        elif sku_counts[item.sku.lower()] > 1:
            plan.add(item, ItemAction.SKIP, ItemStatus.SKIPPED,
                     reason=f"SKU {item.sku!r} is on {sku_counts[item.sku.lower()]} Zoho items")
        elif item.group_id:
            plan.add(item, ItemAction.SKIP, ItemStatus.SKIPPED,
                     reason=f"variant of item group {item.group_name or item.group_id!r}: "
                            "variable products are not synced yet")
        elif not item.active:
            plan.add(item, ItemAction.SKIP, ItemStatus.SKIPPED, reason="inactive in Zoho")
        else:
            candidates.append(item)
    return candidates


def _decide(item: CatalogItem, plan: Plan, *, settings: ConnectionSettings, store: StoreSettings,
            link: ProductLink | None, found: StoreProductRef | None) -> None:
    try:
        draft = build_draft(item, settings=settings, store=store)
    except UnitError as exc:
        plan.add(item, ItemAction.SKIP, ItemStatus.SKIPPED, reason=str(exc))
        return
    digest = content_hash(draft)
    payload = {"draft": draft, "create": creation_fields(item, settings=settings)}
    if link is not None:
        if link.content_hash == digest:
            plan.add(item, ItemAction.UNCHANGED, ItemStatus.SYNCED, digest=digest, woo_id=link.woo_id)
        else:
            plan.add(item, ItemAction.UPDATE, ItemStatus.PENDING, payload=payload, digest=digest, woo_id=link.woo_id)
    elif found is not None:
        reason = _unusable_match(item, found, settings)
        if reason:
            plan.add(item, ItemAction.SKIP, ItemStatus.SKIPPED, reason=reason)
        else:
            plan.add(item, ItemAction.UPDATE, ItemStatus.PENDING, payload=payload, digest=digest, woo_id=found.store_id)
    elif settings.create_missing_products:
        plan.add(item, ItemAction.CREATE, ItemStatus.PENDING, payload=payload, digest=digest)
    else:
        plan.add(item, ItemAction.SKIP, ItemStatus.SKIPPED,
                 reason="not in the store and create_missing_products is off")


def _unusable_match(item: CatalogItem, found: StoreProductRef, settings: ConnectionSettings) -> str | None:
    if found.kind in ("variation", "variable"):
        return f"SKU {item.sku!r} belongs to a {found.kind} in the store (#{found.store_id})"
    if settings.sku_match == "exact" and found.sku != item.sku:
        return (f"the store's SKU {found.sku!r} (#{found.store_id}) differs from {item.sku!r} only in case; "
                "set sku_match to case_insensitive to link them")
    return None


async def _links(ctx: AppContext, connection_id: uuid.UUID) -> dict[str, ProductLink]:
    async with ctx.sessionmaker() as session:
        rows = await session.scalars(select(ProductLink).where(
            ProductLink.connection_id == connection_id, ProductLink.kind == LinkKind.PRODUCT))
        return {link.zoho_id: link for link in rows}


async def _look_up(woo: WooClient, items: list[CatalogItem]) -> dict[str, StoreProductRef]:
    return await woo.find_by_skus(item.sku for item in items if item.sku)


_START = text("""
    UPDATE sync_runs SET status = CASE WHEN status = 'queued' THEN 'running' ELSE status END,
                         started_at = now(), driver_token = NULL
    WHERE id = :run_id AND driver_token = :token
    RETURNING status
""")


async def save_plan(ctx: AppContext, run: SyncRun, plan: Plan, token: str) -> str | None:
    """Persist the items and start the run, atomically; the run's status after, or None when
    this job lost its lease meanwhile (another driver took over)."""
    async with transaction(ctx.sessionmaker) as session:
        status = (await session.execute(_START, {"run_id": run.id, "token": token})).scalar()
        if status is None:
            await session.rollback()
            return None
        rows = [row | {"run_id": run.id} for row in plan.rows]
        if status == RunStatus.CANCELLED:  # cancelled while planning: nothing will be written
            for row in rows:
                if row["status"] == ItemStatus.PENDING:
                    row["status"] = ItemStatus.CANCELLED
        await insert_plan(session, run, rows, plan, status=status)
        return status


async def insert_plan(session: AsyncSession, run: SyncRun, rows: list[dict[str, Any]], plan: Plan, *,
                      status: str) -> None:
    """The run's items, a log line summing up the plan, and one per skipped item."""
    for start in range(0, len(rows), INSERT_CHUNK):
        await session.execute(insert(SyncRunItem), rows[start : start + INSERT_CHUNK])
    counts = plan.summary()
    await write_logs(session, [entry(
        level="info", action="plan", status=status, connection_id=run.connection_id, run_id=run.id,
        message="planned {} items: {}".format(len(rows), ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))),
        details=dict(counts),
    )] + [entry(level="info", action="skip", status="skipped", connection_id=run.connection_id, run_id=run.id,
                sku=row["sku"], zoho_item_id=row["zoho_item_id"], message=f"skipped: {row['reason']}")
          for row in rows if row["action"] == ItemAction.SKIP])
