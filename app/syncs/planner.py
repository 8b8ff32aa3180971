"""Planning a run: read the Zoho catalogue, match it against the links and the store by SKU,
and persist one run item per product with its planned action and the exact content to write.

Everything the processing step needs is in the run items, so a run survives restarts without
asking Zoho again, and the plan itself is the audit of what the run meant to do.
"""

from __future__ import annotations

import asyncio
import enum
import pickle
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import structlog
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    Row,
    SmallInteger,
    String,
    Table,
    Text,
    and_,
    exists,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.types import CatalogGroup, CatalogItem, StoreProductRef, StoreSettings
from app.connections.adapters import adapters_for
from app.connections.schemas import ConnectionSettings
from app.connections.service import connection_settings
from app.core.context import AppContext
from app.logs.service import entry, write_logs
from app.models import (
    Connection,
    ItemAction,
    ItemKind,
    ItemStatus,
    LinkKind,
    ProductLink,
    RunMode,
    RunStatus,
    SyncRun,
    SyncRunItem,
)
from app.ports.catalog import CatalogSource
from app.ports.store import Store
from app.syncs import state
from app.syncs.drafts import (
    UnitError,
    build_draft,
    content_hash,
    creation_fields,
    parent_creation_fields,
    parent_draft,
    parent_sku,
    retire_draft,
    variation_draft,
)
from app.syncs.plan import (
    Free,
    HeadRef,
    PlannedItem,
    ProductDraft,
    RetirementDraft,
    VariableDraft,
    VariationDraft,
    under,
)
from app.syncs.verify import Verifier

log = structlog.get_logger(__name__)

DETAIL_FIELDS = {"description", "weight", "dimensions"}
INSERT_CHUNK = 1000


@dataclass
class Plan:
    """Planned items in the order they are saved, and where each variable product (head) is.

    A head is pending when it is written or when any of its variations is: its status is
    settled when it is added with its variations (`add_group`), and raised through `retire`
    when a variation vanished from Zoho is set aside under a head already planned.
    """

    rows: list[PlannedItem] = field(default_factory=list)
    heads: dict[HeadRef, int] = field(default_factory=dict)  # position in `rows`
    # Heads an earlier chunk staged (manual runs), and those of them a retirement here raises.
    staged: set[HeadRef] = field(default_factory=set)
    raised: set[HeadRef] = field(default_factory=set)

    def add(self, item: CatalogItem, action: ItemAction, status: ItemStatus, **fields: Any) -> None:
        self.rows.append(PlannedItem.of(item, action, status, **fields))

    def add_group(self, head: PlannedItem, members: list[PlannedItem]) -> None:
        """A head followed by its variations; pending when it or any of them is."""
        if any(m.status == ItemStatus.PENDING for m in members):
            head = head.pending()
        self.add_head(head)
        self.rows.extend(members)

    def add_head(self, head: PlannedItem) -> None:
        assert head.head is not None
        self.heads[head.head] = len(self.rows)
        self.rows.append(head)

    def has_head(self, ref: HeadRef) -> bool:
        return ref in self.heads or ref in self.staged

    def retire(self, ref: HeadRef, row: PlannedItem) -> None:
        """A retirement under the head `ref`, which turns pending with it."""
        self.rows.append(row)
        if row.status != ItemStatus.PENDING:
            return
        if ref in self.heads:
            self.rows[self.heads[ref]] = self.rows[self.heads[ref]].pending()
        else:
            self.raised.add(ref)

    def summary(self) -> Counter[str]:
        return Counter(str(row.action) for row in self.rows)


async def fetch_catalogue(catalog: CatalogSource) -> list[CatalogItem]:
    """Every Zoho item, once each (pages can overlap when items change during the scan)."""
    items: dict[str, CatalogItem] = {}
    async for page in catalog.iter_item_pages():
        items.update((item.zoho_item_id, item) for item in page if item.zoho_item_id)
    return list(items.values())


async def fetch_groups(catalog: CatalogSource) -> dict[str, CatalogGroup]:
    """Every item group's own fields by id (`GET /itemgroups`, 200 a page): a variable
    product's name, description and image are its group's, not a variant's."""
    groups: dict[str, CatalogGroup] = {}
    async for page in catalog.iter_group_pages():
        groups.update((group.group_id, group) for group in page if group.group_id)
    return groups


async def complete_details(catalog: CatalogSource, items: list[CatalogItem],
                           settings: ConnectionSettings) -> list[CatalogItem]:
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
    detailed = {item.zoho_item_id: item for item in await catalog.get_item_details(partial)}
    return [detailed.get(item.zoho_item_id, item) for item in items]


async def plan_items(ctx: AppContext, connection: Connection, items: list[CatalogItem], *, catalog: CatalogSource,
                     store: Store, store_settings: StoreSettings, whole_catalogue: bool = True) -> Plan:
    """The shared decision path of manual runs, webhook events and catch-ups, all in memory.

    With the whole catalogue at hand, a SKU is duplicated when two Zoho items carry it; for a
    few items (a webhook, a catch-up), when another Zoho item is already linked under it. A few
    items that belong to item groups bring their whole group (one call per group), because a
    variable product is written from all of its variants. A manual run plans the same way, a
    chunk at a time, through `plan_run_items`.
    """
    groups = await fetch_groups(catalog) if whole_catalogue and any(i.group_id for i in items) else None
    return await decide_plan(items, links=await load_links(ctx, connection.id), catalog=catalog, store=store,
                             store_settings=store_settings, settings=connection_settings(connection),
                             whole_catalogue=whole_catalogue, groups=groups)


async def decide_plan(items: list[CatalogItem], *, links: Links, catalog: CatalogSource, store: Store,
                      store_settings: StoreSettings, settings: ConnectionSettings,
                      whole_catalogue: bool = True, groups: Mapping[str, CatalogGroup] | None = None) -> Plan:
    """`plan_items` once the connection's links are read: the catalogue and the store through
    their ports, nothing from the database. `groups`: the item groups' own fields, read with
    the whole catalogue; a few items read each of their groups with its items instead."""
    if not whole_catalogue:
        items, groups = await _with_whole_groups(catalog, items)
    sku_counts = Counter((item.sku or "").lower() for item in items if item.sku)
    if not whole_catalogue:
        ids = {item.zoho_item_id for item in items}
        sku_counts.update((link.sku or "").lower() for link in links.product.values()
                          if link.sku and link.zoho_id not in ids)
    screened, decided = Plan(), Plan()
    chosen = await _screen_items(items, screened, sku_counts=sku_counts, catalog=catalog, settings=settings)
    found = await store.find_by_skus(_skus_to_look_up(chosen.simple, chosen.groups, links))
    _decide_items(chosen, decided, settings=settings, store=store_settings, links=links, found=found,
                  groups=groups or {})
    if whole_catalogue:
        _retire_vanished(decided, settings, links, {item.zoho_item_id for item in items})
    return Plan(rows=screened.rows + decided.rows)


@dataclass
class Chosen:
    """Items that passed screening, completed from /itemdetails where needed."""

    simple: list[CatalogItem]
    groups: list[GroupCandidates]


async def _screen_items(items: list[CatalogItem], plan: Plan, *, sku_counts: Counter[str], catalog: CatalogSource,
                        settings: ConnectionSettings) -> Chosen:
    """Skip what must never be guessed at (into `plan`); the rest, with every field synced."""
    simple = _screen([i for i in items if not i.group_id], plan, sku_counts)
    groups = [_screen_group(members, plan, sku_counts) for members in _by_group(items).values()]
    completed = {i.zoho_item_id: i for i in await complete_details(
        catalog, simple + [m for g in groups for m in g.active], settings)}
    for group in groups:
        group.active = [completed[m.zoho_item_id] for m in group.active]
    return Chosen([completed[i.zoho_item_id] for i in simple], groups)


def _decide_items(chosen: Chosen, plan: Plan, *, settings: ConnectionSettings, store: StoreSettings, links: Links,
                  found: dict[str, StoreProductRef], groups: Mapping[str, CatalogGroup], verify: bool = False) -> None:
    """With `verify`, an unchanged content hash proves nothing (the store may have been edited):
    linked items are planned as updates, which the verify step (app/syncs/verify.py) narrows to
    what the store's records show different."""
    for item in chosen.simple:
        _decide(item, plan, settings=settings, store=store, link=links.product.get(item.zoho_item_id),
                found=found.get((item.sku or "").lower()), links=links, verify=verify)
    for group in chosen.groups:
        _decide_group(group, plan, settings=settings, store=store, links=links, found=found,
                      info=groups.get(group.group_id), verify=verify)


@dataclass
class Links:
    """The connection's durable links by kind, and every one by store id."""

    product: dict[str, ProductLink] = field(default_factory=dict)
    variable: dict[str, ProductLink] = field(default_factory=dict)
    variation: dict[str, ProductLink] = field(default_factory=dict)
    by_store_id: dict[int, ProductLink] = field(default_factory=dict)


@dataclass
class GroupCandidates:
    group_id: str
    name: str
    active: list[CatalogItem]
    inactive: list[CatalogItem]


async def load_links(ctx: AppContext, connection_id: uuid.UUID) -> Links:
    links = Links()
    async with ctx.sessionmaker() as session:
        _sort_links(links, await session.scalars(select(ProductLink).where(ProductLink.connection_id == connection_id)))
    return links


def _sort_links(links: Links, found: Iterable[ProductLink]) -> None:
    for link in found:
        links.by_store_id[link.store_id] = link
        if link.kind == LinkKind.PRODUCT and not link.retired:  # a freed product no longer stands for its item
            links.product[link.zoho_id] = link
        elif link.kind == LinkKind.VARIABLE:
            links.variable[link.zoho_id] = link
        elif link.kind == LinkKind.VARIATION:
            links.variation[link.zoho_id] = link


async def _with_whole_groups(catalog: CatalogSource,
                             items: list[CatalogItem]) -> tuple[list[CatalogItem], dict[str, CatalogGroup]]:
    """The items with every member of their groups, and those groups' own fields: one call a
    group. An item read on its own (a webhook's) is kept over the group's row of it."""
    by_id = {item.zoho_item_id: item for item in items}
    groups: dict[str, CatalogGroup] = {}
    for group_id in dict.fromkeys(item.group_id for item in items if item.group_id):
        group = await catalog.get_group(group_id)
        if group is None:
            continue
        groups[group_id] = group
        for member in group.items:
            by_id.setdefault(member.zoho_item_id, member)
    return list(by_id.values()), groups


def _by_group(items: list[CatalogItem]) -> dict[str, list[CatalogItem]]:
    groups: dict[str, list[CatalogItem]] = {}
    for item in items:
        if item.group_id:
            groups.setdefault(item.group_id, []).append(item)
    return groups


def _skus_to_look_up(simple: list[CatalogItem], groups: list[GroupCandidates], links: Links) -> list[str]:
    """SKUs whose store object we do not know yet: unlinked simple items, unlinked variants, and
    the SKU a variable product we create would carry."""
    skus = [i.sku for i in simple if i.zoho_item_id not in links.product and i.sku]
    for group in groups:
        parent = links.variable.get(group.group_id)
        if parent is None:
            skus.append(parent_sku(group.group_id))
        for member in group.active + group.inactive:
            link = links.variation.get(member.zoho_item_id)
            # A variant linked under another parent moved groups: where its SKU sits decides.
            if member.sku and (link is None or parent is None or link.store_parent_id != parent.store_id):
                skus.append(member.sku)
    return skus


def _screen(catalogue: list[CatalogItem], plan: Plan, sku_counts: Counter[str]) -> list[CatalogItem]:
    """Skip what must never be guessed at; return the items that can be synced."""
    candidates = []
    for item in catalogue:
        if reason := _sku_problem(item, sku_counts):
            plan.add(item, ItemAction.SKIP, ItemStatus.SKIPPED, reason=reason)
        elif not item.active:
            plan.add(item, ItemAction.SKIP, ItemStatus.SKIPPED, reason="inactive in Zoho")
        else:
            candidates.append(item)
    return candidates


def _sku_problem(item: CatalogItem, sku_counts: Counter[str]) -> str | None:
    if not item.sku:
        return "no SKU in Zoho"
    if sku_counts[item.sku.lower()] > 1:
        return f"SKU {item.sku!r} is on {sku_counts[item.sku.lower()]} Zoho items"
    return None


def _screen_group(members: list[CatalogItem], plan: Plan, sku_counts: Counter[str]) -> GroupCandidates:
    """A group's variants that can become variations; the others are skipped with a reason
    and the rest of the group still syncs."""
    first = members[0]
    group = GroupCandidates(first.group_id or "", first.group_name or first.group_id or "", [], [])
    combos = Counter(m.attributes for m in members if m.active)
    # The group's attributes are what most of its variants carry (Zoho gives them all the same).
    names = Counter(tuple(n for n, _ in m.attributes) for m in members if m.attributes).most_common(1)
    group_names = names[0][0] if names else ()
    for member in sorted(members, key=lambda m: m.zoho_item_id):
        missing = [name for name, option in member.attributes if not option]
        if reason := _sku_problem(member, sku_counts):
            pass
        elif not member.attributes:
            reason = f"variant of item group {group.name!r} without attribute options"
        elif tuple(n for n, _ in member.attributes) != group_names:
            reason = (f"its attributes ({', '.join(n for n, _ in member.attributes)}) differ from those of item "
                      f"group {group.name!r} ({', '.join(group_names)})")
        elif missing:
            reason = (f"no option for attribute {missing[0]!r} in item group {group.name!r} "
                      "(the store would offer it as 'any')")
        elif any("|" in name or "|" in option for name, option in member.attributes):
            reason = "an attribute or option holds '|', which the store uses to separate options"
        elif member.active and combos[member.attributes] > 1:
            combo = ", ".join(f"{n}: {o}" for n, o in member.attributes)
            reason = f"options ({combo}) are on {combos[member.attributes]} variants of item group {group.name!r}"
        if reason:
            plan.add(member, ItemAction.SKIP, ItemStatus.SKIPPED, reason=reason, kind=ItemKind.VARIATION)
        elif member.active:
            group.active.append(member)
        else:
            group.inactive.append(member)
    return group


def _decide(item: CatalogItem, plan: Plan, *, settings: ConnectionSettings, store: StoreSettings,
            link: ProductLink | None, found: StoreProductRef | None, links: Links, verify: bool = False) -> None:
    try:
        draft = build_draft(item, settings=settings, store=store)
    except UnitError as exc:
        plan.add(item, ItemAction.SKIP, ItemStatus.SKIPPED, reason=str(exc))
        return
    digest = content_hash(draft)
    payload = ProductDraft(draft, creation_fields(item, settings=settings))
    if link is not None:
        if link.content_hash == digest and not verify:
            plan.add(item, ItemAction.UNCHANGED, ItemStatus.SYNCED, content_hash=digest, store_id=link.store_id)
        else:
            plan.add(item, ItemAction.UPDATE, ItemStatus.PENDING, payload=payload, content_hash=digest,
                     store_id=link.store_id)
        return
    if found is not None and (free := _freeable(item, found, links)) is not None:
        payload = replace(payload, frees=(free,))
        found = None
    if found is not None:
        reason = _unusable_match(item, found, settings)
        if reason:
            plan.add(item, ItemAction.SKIP, ItemStatus.SKIPPED, reason=reason)
        else:
            plan.add(item, ItemAction.UPDATE, ItemStatus.PENDING, payload=payload, content_hash=digest,
                     store_id=found.store_id)
    elif settings.create_missing_products:
        plan.add(item, ItemAction.CREATE, ItemStatus.PENDING, payload=payload, content_hash=digest)
    else:
        plan.add(item, ItemAction.SKIP, ItemStatus.SKIPPED,
                 reason="not in the store and create_missing_products is off")


def _freeable(item: CatalogItem, found: StoreProductRef, links: Links) -> Free | None:
    """The store object holding `item`'s SKU, when it is the same Zoho item in an earlier role
    (a simple product now a variant, a variant now simple or in another group): it is retired
    and its SKU cleared before the new role is written. Anything else holding the SKU is the
    merchant's, and is never touched."""
    holder = links.by_store_id.get(found.store_id)
    if holder is None or holder.zoho_id != item.zoho_item_id or found.kind == "variable":
        return None
    return Free(found.store_id, found.parent_id if found.kind == "variation" else None)


def _decide_group(group: GroupCandidates, plan: Plan, *, settings: ConnectionSettings, store: StoreSettings,
                  links: Links, found: dict[str, StoreProductRef], info: CatalogGroup | None,
                  verify: bool = False) -> None:
    """One head row for the variable product and one row per variant, claimed together. The
    product takes its name, description and featured image from the group (`info`); a group
    the catalogue did not list (created during the scan) falls back to its variants'."""
    ref = HeadRef(group.group_id)
    link = links.variable.get(group.group_id)
    parent_id, problem = _find_parent(group, link, found)
    every = group.active + group.inactive

    def skip_all(reason: str) -> None:
        for member in every:
            plan.add(member, ItemAction.SKIP, ItemStatus.SKIPPED, reason=reason, kind=ItemKind.VARIATION)

    if problem:
        return skip_all(problem)
    if parent_id is None and not group.active:
        return skip_all("inactive in Zoho")
    if parent_id is None and not settings.create_missing_products:
        return skip_all(f"the variable product for item group {group.name!r} is not in the store "
                        "and create_missing_products is off")
    name, description, image = _group_fields(group, info)
    draft = parent_draft(name, description, group.active, settings=settings,
                         image=image) | {"zoho_group_id": group.group_id}
    digest = content_hash(draft)
    own_sku = parent_sku(group.group_id)
    held = found.get(own_sku.lower())
    sku = link.sku if link else (held.sku if held else own_sku)
    if parent_id is None:
        action = ItemAction.CREATE
    elif not group.active or (link is not None and link.content_hash == digest and link.store_id == parent_id
                              and not verify):
        # With no active variant left the parent keeps what it has: its variations are set
        # aside, and emptying its attributes would only turn them into "any" options.
        action = ItemAction.UNCHANGED
    else:
        action = ItemAction.UPDATE
    payload = VariableDraft(draft, parent_creation_fields(group.group_id, name, settings=settings))
    head = PlannedItem(kind=ItemKind.VARIABLE, zoho_item_id=group.group_id, group_id=group.group_id, sku=sku,
                       name=name, action=action,
                       status=ItemStatus.SYNCED if action == ItemAction.UNCHANGED else ItemStatus.PENDING,
                       payload=payload, content_hash=digest, store_id=parent_id)
    members = [_decide_variant(member, ref, parent_id, settings=settings, store=store, links=links, found=found,
                               verify=verify) for member in group.active]
    members += [_retire_inactive(member, ref, parent_id, settings=settings, links=links, found=found)
                for member in group.inactive]
    plan.add_group(head, members)


def _group_fields(group: GroupCandidates, info: CatalogGroup | None) -> tuple[str, str, str | None]:
    """(name, description, featured image key) of a group's variable product."""
    if info is not None:
        return info.name or group.name, info.description, info.image_key
    descriptions = Counter(m.description for m in group.active)
    return group.name, descriptions.most_common(1)[0][0] if descriptions else "", None


def _find_parent(group: GroupCandidates, link: ProductLink | None,
                 found: dict[str, StoreProductRef]) -> tuple[int | None, str | None]:
    """The variable product for a group: linked, or the parent of a variant found by SKU, or the
    product carrying the SKU we give the parents we create; else none (it will be created)."""
    if link is not None:
        return link.store_id, None
    for member in group.active + group.inactive:
        ref = found.get((member.sku or "").lower())
        if ref is not None and ref.kind == "variation" and ref.parent_id:
            return ref.parent_id, None
    ref = found.get(parent_sku(group.group_id).lower())
    if ref is None:
        return None, None
    if ref.kind != "variable":
        return None, (f"the SKU {ref.sku!r} meant for item group {group.name!r} is on a {ref.kind} product "
                      f"(#{ref.store_id})")
    return ref.store_id, None


def _decide_variant(item: CatalogItem, head: HeadRef, parent_id: int | None, *, settings: ConnectionSettings,
                    store: StoreSettings, links: Links, found: dict[str, StoreProductRef],
                    verify: bool = False) -> PlannedItem:
    """A variant's row under its group's head (which `Plan.add_group` makes pending with it)."""
    def row(action: ItemAction, status: ItemStatus, **fields: Any) -> PlannedItem:
        return PlannedItem.of(item, action, status, kind=ItemKind.VARIATION, head=head, **fields)

    try:
        draft = variation_draft(item, settings=settings, store=store)
    except UnitError as exc:
        return row(ItemAction.SKIP, ItemStatus.SKIPPED, reason=str(exc))
    digest = content_hash(draft)
    payload = VariationDraft(draft)
    link = links.variation.get(item.zoho_item_id)
    if link is not None and parent_id is not None and link.store_parent_id == parent_id:
        if link.content_hash == digest and not link.retired and not verify:
            return row(ItemAction.UNCHANGED, ItemStatus.SYNCED, content_hash=digest, store_id=link.store_id)
        return row(ItemAction.UPDATE, ItemStatus.PENDING, payload=payload, content_hash=digest,
                   store_id=link.store_id)
    ref = found.get((item.sku or "").lower())
    if ref is not None and ref.kind == "variation" and parent_id is not None and ref.parent_id == parent_id:
        if reason := _unusable_match(item, ref, settings, variation=True):
            return row(ItemAction.SKIP, ItemStatus.SKIPPED, reason=reason)
        return row(ItemAction.UPDATE, ItemStatus.PENDING, payload=payload, content_hash=digest, store_id=ref.store_id)
    if ref is not None:
        free = _freeable(item, ref, links)
        if free is None:
            return row(ItemAction.SKIP, ItemStatus.SKIPPED, reason=(
                f"SKU {item.sku!r} belongs to {_describe(ref)} in the store; "
                "change it there, or in Zoho, to sync this variant"))
        payload = replace(payload, frees=(free,))
    if not settings.create_missing_variations:
        return row(ItemAction.SKIP, ItemStatus.SKIPPED, reason="not in the store and create_missing_variations is off")
    return row(ItemAction.CREATE, ItemStatus.PENDING, payload=payload, content_hash=digest)


def _retire_inactive(item: CatalogItem, head: HeadRef, parent_id: int | None, *, settings: ConnectionSettings,
                     links: Links, found: dict[str, StoreProductRef]) -> PlannedItem:
    link = links.variation.get(item.zoho_item_id)
    ref = found.get((item.sku or "").lower())
    store_id = link.store_id if link is not None else (ref.store_id if ref and ref.kind == "variation" else None)
    holder_parent = link.store_parent_id if link is not None else (ref.parent_id if ref else None)
    if store_id is None or parent_id is None or holder_parent != parent_id:
        return PlannedItem.of(item, ItemAction.SKIP, ItemStatus.SKIPPED, reason="inactive in Zoho",
                              kind=ItemKind.VARIATION, head=head)
    return _retirement(head, zoho_item_id=item.zoho_item_id, sku=item.sku, name=item.name, store_id=store_id,
                       settings=settings, link=link, why="inactive in Zoho")


def _retirement(head: HeadRef, *, zoho_item_id: str, sku: str | None, name: str, store_id: int,
                settings: ConnectionSettings, link: ProductLink | None, why: str) -> PlannedItem:
    """A variation set aside under `head`, or left as it is when it already is."""
    draft = retire_draft(settings)
    digest = content_hash(draft)
    row = partial(PlannedItem, kind=ItemKind.VARIATION, zoho_item_id=zoho_item_id, sku=sku, name=name,
                  content_hash=digest, store_id=store_id, **under(head))
    if link is not None and link.retired and link.content_hash == digest:
        return row(action=ItemAction.UNCHANGED, status=ItemStatus.SYNCED,
                   reason=f"{why}; variation #{store_id} already set aside")
    return row(action=ItemAction.UPDATE, status=ItemStatus.PENDING, reason=why, payload=RetirementDraft(draft))


def _retire_vanished(plan: Plan, settings: ConnectionSettings, links: Links, catalogue_ids: set[str]) -> None:
    """Variations whose Zoho item no longer exists: out of stock and private, never deleted."""
    groups_by_parent = {link.store_id: link for link in links.variable.values()}
    for link in links.variation.values():
        if link.zoho_id in catalogue_ids or link.retired or link.store_parent_id is None:
            continue
        parent = groups_by_parent.get(link.store_parent_id)
        ref = HeadRef(parent.zoho_id) if parent else HeadRef(store_id=link.store_parent_id)
        if not plan.has_head(ref):
            plan.add_head(PlannedItem(
                kind=ItemKind.VARIABLE, zoho_item_id=ref.group_id, group_id=ref.group_id,
                sku=parent.sku if parent else None, name=f"variable product #{link.store_parent_id}",
                action=ItemAction.UNCHANGED, status=ItemStatus.SYNCED, store_id=link.store_parent_id,
                content_hash=parent.content_hash if parent else None))
        plan.retire(ref, _retirement(ref, zoho_item_id=link.zoho_id, sku=link.sku, name=link.sku or link.zoho_id,
                                     store_id=link.store_id, settings=settings, link=link, why="no longer in Zoho"))


def _describe(ref: StoreProductRef) -> str:
    if ref.kind == "variation":
        return f"variation #{ref.store_id} of product #{ref.parent_id}"
    return f"{ref.kind} product #{ref.store_id}"


def _unusable_match(item: CatalogItem, found: StoreProductRef, settings: ConnectionSettings, *,
                    variation: bool = False) -> str | None:
    if not variation and found.kind in ("variation", "variable"):
        return f"SKU {item.sku!r} belongs to {_describe(found)} in the store"
    if settings.sku_match == "exact" and found.sku != item.sku:
        return (f"the store's SKU {found.sku!r} (#{found.store_id}) differs from {item.sku!r} only in case; "
                "set sku_match to case_insensitive to link them")
    return None


# --- a whole catalogue, a chunk at a time ----------------------------------------------------
#
# A catalogue can hold 100,000 items; held in memory with their rows and the content to write,
# that is gigabytes. So a manual run stages the pages in temporary tables as they arrive, asks
# Postgres what needs the whole catalogue (a SKU on two items, a group whose variants sit on
# several pages, variations whose item is gone), and decides PLAN_CHUNK items at a time. Rows
# reach sync_run_items in one INSERT ... SELECT in the transaction that starts the run, in the
# order the in-memory plan gives them, so the run starts with its whole plan or not at all.

#: Items decided at a time by a manual run's plan: what bounds the planning worker's memory.
PLAN_CHUNK = 5000
#: Orphans a verify run lists by id and SKU (all are counted).
MAX_ORPHANS_LISTED = 1000


class _Phase(enum.IntEnum):
    """Where a staged row goes in the plan; the in-memory plan orders its rows the same way."""

    SIMPLE_SKIPS = 0
    GROUP_SKIPS = 1
    SIMPLE = 2
    GROUPS = 3
    VANISHED = 4


_staging = MetaData()
_catalogue = Table(
    "plan_catalogue", _staging,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),  # the item's first place in the scan
    Column("zoho_item_id", Text, nullable=False, unique=True),
    Column("sku_key", Text),  # lower-cased, as duplicates are counted
    Column("group_id", Text, index=True),
    # The job's own CatalogItem, pickled: written and read back by this job alone, through a
    # table no other session can see.
    Column("item", LargeBinary, nullable=False),
    prefixes=["TEMPORARY"],
)
_duplicates = Table(
    "plan_duplicates", _staging,
    Column("sku_key", Text, primary_key=True),
    Column("items", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
_groups = Table(
    "plan_groups", _staging,
    Column("group_id", Text, primary_key=True),
    Column("chunk", BigInteger, nullable=False, index=True),
    Column("first_seq", BigInteger, nullable=False),
    prefixes=["TEMPORARY"],
)
_rows = Table(
    "plan_rows", _staging,
    Column("ord", BigInteger, primary_key=True, autoincrement=True),
    Column("phase", SmallInteger, nullable=False),
    Column("zoho_item_id", String(80)),
    Column("kind", String(16), nullable=False),
    Column("group_id", String(80)),
    Column("parent_store_id", BigInteger),
    Column("sku", String(200)),
    Column("name", Text),
    Column("action", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("payload", JSONB),
    Column("content_hash", String(64)),
    Column("store_id", BigInteger),
    Column("changes", JSONB),
    prefixes=["TEMPORARY"],
)
_DROP_STAGING = text("DROP TABLE IF EXISTS pg_temp.plan_rows, pg_temp.plan_groups, pg_temp.plan_duplicates, "
                     "pg_temp.plan_catalogue")
_COUNT_DUPLICATES = text("""
    INSERT INTO plan_duplicates (sku_key, items)
    SELECT sku_key, count(*) FROM plan_catalogue WHERE sku_key IS NOT NULL GROUP BY sku_key HAVING count(*) > 1
""")
# A chunk of groups holds whole groups, in the order each group first appears: group k goes to
# chunk (variants of the groups before it) / PLAN_CHUNK.
_CHUNK_GROUPS = text("""
    INSERT INTO plan_groups (group_id, chunk, first_seq)
    SELECT group_id, (sum(size) OVER (ORDER BY first_seq) - size)::bigint / :size, first_seq
    FROM (SELECT group_id, min(seq) AS first_seq, count(*) AS size
          FROM plan_catalogue WHERE group_id IS NOT NULL GROUP BY group_id) AS g
""")
_SIMPLE_CHUNK = text("""
    SELECT c.seq, c.item, c.sku_key, d.items FROM plan_catalogue c LEFT JOIN plan_duplicates d USING (sku_key)
    WHERE c.group_id IS NULL AND c.seq > :after ORDER BY c.seq LIMIT :size
""")
_GROUP_CHUNKS = text("SELECT DISTINCT chunk FROM plan_groups ORDER BY chunk")
_GROUP_CHUNK = text("""
    SELECT c.seq, c.item, c.sku_key, d.items FROM plan_groups g
    JOIN plan_catalogue c USING (group_id) LEFT JOIN plan_duplicates d USING (sku_key)
    WHERE g.chunk = :chunk ORDER BY g.first_seq, c.seq
""")
# Heads by reference: an item group's by its id, one no group stands for by its store id.
_HEADS = "kind = 'variable' AND (group_id = ANY(:groups) OR (group_id IS NULL AND store_id = ANY(:parents)))"
_STAGED_HEADS = text(f"SELECT group_id, store_id FROM plan_rows WHERE {_HEADS}")
_HEADS_PENDING = text(f"UPDATE plan_rows SET status = 'pending' WHERE {_HEADS}")
_SAVE_ROWS = text("""
    INSERT INTO sync_run_items (run_id, zoho_item_id, kind, group_id, parent_store_id, sku, name, action, status,
                                reason, payload, content_hash, store_id, changes, attempts)
    SELECT :run_id, zoho_item_id, kind, group_id, parent_store_id, sku, name, action,
           CASE WHEN :cancelled AND status = 'pending' THEN 'cancelled' ELSE status END,
           reason, payload, content_hash, store_id, changes, 0
    FROM plan_rows ORDER BY phase, ord
""")
_COUNT_ACTIONS = text("SELECT action, count(*) FROM plan_rows GROUP BY action")
_SKIP_LOGS = text("""
    INSERT INTO sync_logs (level, action, status, connection_id, run_id, sku, zoho_item_id, message)
    SELECT 'info', 'skip', 'skipped', :connection_id, :run_id, sku, zoho_item_id, format('skipped: %s', reason)
    FROM plan_rows WHERE action = 'skip' ORDER BY phase, ord
""")


async def plan_run_items(ctx: AppContext, *, run: SyncRun, connection: Connection, token: str) -> str | None:
    """Plan a manual run over the whole catalogue, a chunk at a time, and start the run with its
    items atomically; the run's status after, or None when this job lost its lease meanwhile."""
    async with adapters_for(connection, ctx) as adapters:
        store_settings = await adapters.store.get_store_settings()  # first: wrong store credentials fail the run here
        settings = connection_settings(connection)
        verifier = Verifier(ctx=ctx, connection_id=connection.id, store=adapters.store, store_settings=store_settings,
                            settings=settings) if run.mode == RunMode.VERIFY else None
        async with _staging_session(ctx) as session:
            chunks = ChunkPlanner(session=session, connection_id=connection.id, catalog=adapters.catalog,
                                  store=adapters.store, store_settings=store_settings, settings=settings,
                                  verifier=verifier)
            await chunks.stage_catalogue(_read_ahead(adapters.catalog.iter_item_pages()))
            await chunks.plan_simple()
            await chunks.plan_groups()
            await chunks.retire_vanished()
            drift = [await chunks.drift_entry(run)] if verifier is not None else []
            return await _start_with_staged_rows(session, run, token, extra_logs=drift)


async def _read_ahead(pages: AsyncIterator[list[CatalogItem]]) -> AsyncIterator[list[CatalogItem]]:
    """`pages`, the next one already asked for while this one is staged: staging then costs
    no time beyond Zoho's own."""
    ahead = asyncio.ensure_future(anext(pages, None))
    try:
        while (page := await ahead) is not None:
            ahead = asyncio.ensure_future(anext(pages, None))
            yield page
    finally:
        ahead.cancel()
        await asyncio.wait([ahead])
        if not ahead.cancelled() and ahead.exception() is not None:
            # The plan already stops for its own reason; this page's error comes second.
            log.info("plan.read_ahead_dropped", error=repr(ahead.exception()))


@asynccontextmanager
async def _staging_session(ctx: AppContext) -> AsyncIterator[AsyncSession]:
    """A session on a connection of its own, which holds the staging tables while the plan is
    made (temporary tables live with their connection); they are dropped after."""
    async with ctx.engine.connect() as conn:
        await conn.execute(_DROP_STAGING)
        await conn.run_sync(lambda sync: _staging.create_all(sync, checkfirst=False))
        await conn.commit()
        session = AsyncSession(bind=conn, expire_on_commit=False)
        try:
            yield session
        finally:
            await session.close()
            await conn.execute(_DROP_STAGING)
            await conn.commit()


@dataclass
class ChunkPlanner:
    """The steps of `plan_run_items`, over the staging tables of `session`."""

    session: AsyncSession
    connection_id: uuid.UUID
    catalog: CatalogSource
    store: Store
    store_settings: StoreSettings
    settings: ConnectionSettings
    verifier: Verifier | None = None  # a verify run's: each chunk is narrowed to what the store shows different
    held: list[PlannedItem] = field(default_factory=list)  # a verify run's simple rows awaiting a fuller read
    groups: dict[str, CatalogGroup] = field(default_factory=dict)

    async def stage_catalogue(self, pages: AsyncIterator[list[CatalogItem]]) -> None:
        """Every page as it arrives; an item seen twice (it changed during the scan) keeps its
        first place and its last content. Then the duplicate SKUs and the chunks of groups."""
        upsert = pg_insert(_catalogue)
        upsert = upsert.on_conflict_do_update(index_elements=[_catalogue.c.zoho_item_id], set_={
            "sku_key": upsert.excluded.sku_key, "group_id": upsert.excluded.group_id, "item": upsert.excluded.item})
        async for page in pages:
            fresh = {item.zoho_item_id: item for item in page if item.zoho_item_id}
            if fresh:
                await self.session.execute(upsert, [_staged_item(item) for item in fresh.values()])
                await self.session.commit()
        await self.session.execute(_COUNT_DUPLICATES)
        await self.session.execute(_CHUNK_GROUPS, {"size": PLAN_CHUNK})
        await self.session.execute(text("ANALYZE plan_catalogue, plan_groups"))  # temporary tables get no autovacuum
        await self.session.commit()

    async def plan_simple(self) -> None:
        after = 0
        while rows := (await self.session.execute(_SIMPLE_CHUNK, {"after": after, "size": PLAN_CHUNK})).all():
            after = rows[-1].seq
            await self._plan_chunk(rows, skips=_Phase.SIMPLE_SKIPS, decided=_Phase.SIMPLE)

    async def plan_groups(self) -> None:
        """The item groups, a chunk of whole groups at a time, after their own fields are read
        (a handful of calls; none for a catalogue without groups). Groups are few beside
        items (200 a page), so their fields are held in memory for the whole plan."""
        chunks = (await self.session.scalars(_GROUP_CHUNKS)).all()
        await self.session.commit()  # no transaction stays open while Zoho answers
        if chunks:
            self.groups = await fetch_groups(self.catalog)
        for chunk in chunks:
            rows = (await self.session.execute(_GROUP_CHUNK, {"chunk": chunk})).all()
            await self._plan_chunk(rows, skips=_Phase.GROUP_SKIPS, decided=_Phase.GROUPS)
        if self.held:  # no group read to share: the simple products held back are read alone
            await self._verified([], _Phase.GROUPS)
            await self.session.commit()

    async def _verified(self, rows: list[PlannedItem], phase: _Phase) -> None:
        """Stage a chunk's decided rows; a verify run's narrowed first (app/syncs/verify.py).
        Simple products that would not fill a read of 100 wait for the next chunk's read."""
        if self.verifier is None:
            return await self._stage_rows(rows, phase)
        held, self.held = self.held, []
        if phase == _Phase.SIMPLE:
            rows, self.held = self.verifier.hold_tail(held, rows)
            held = []
        checked = await self.verifier.check(held + rows)
        await self._stage_rows(checked[:len(held)], _Phase.SIMPLE)
        await self._stage_rows(checked[len(held):], phase)

    async def _plan_chunk(self, rows: Sequence[Row[Any]], *, skips: _Phase, decided: _Phase) -> None:
        items = [pickle.loads(row.item) for row in rows]  # noqa: S301 - see _catalogue.item
        sku_counts = Counter({row.sku_key: row.items for row in rows if row.items})
        links = await self._links_of(items)
        await self.session.commit()  # no transaction stays open while Zoho and the store answer
        screened, plan = Plan(), Plan()
        chosen = await _screen_items(items, screened, sku_counts=sku_counts, catalog=self.catalog,
                                     settings=self.settings)
        found = await self.store.find_by_skus(_skus_to_look_up(chosen.simple, chosen.groups, links))
        holders = {ref.store_id for ref in found.values()}  # whether a holder is ours decides a move
        _sort_links(links, await self._links_where(ProductLink.store_id.in_(list(holders))))
        _decide_items(chosen, plan, settings=self.settings, store=self.store_settings, links=links, found=found,
                      groups=self.groups, verify=self.verifier is not None)
        await self._stage_rows(screened.rows, skips)
        await self._verified(plan.rows, decided)
        await self.session.commit()
        self.session.expunge_all()

    async def retire_vanished(self) -> None:
        """Variations whose Zoho item is gone, a chunk at a time; a head already staged turns
        pending when one of its variations is to be set aside."""
        after = 0
        while vanished := await self._links_where(
                ProductLink.kind == LinkKind.VARIATION, ProductLink.retired.is_(False),
                ProductLink.store_parent_id.is_not(None), ProductLink.id > after,
                ~exists().where(_catalogue.c.zoho_item_id == ProductLink.zoho_id), order=True):
            after = vanished[-1].id
            links = Links(variation={link.zoho_id: link for link in vanished})
            _sort_links(links, await self._links_where(ProductLink.kind == LinkKind.VARIABLE, ProductLink.store_id.in_(
                list({link.store_parent_id for link in vanished}))))
            groups = {link.store_id: link.zoho_id for link in links.variable.values()}
            parents = {link.store_parent_id for link in vanished}
            staged = await self.session.execute(_STAGED_HEADS, _head_args(
                [HeadRef(groups[p]) if p in groups else HeadRef(store_id=p) for p in parents]))
            plan = Plan(staged={HeadRef(group_id, None if group_id else store_id) for group_id, store_id in staged})
            _retire_vanished(plan, self.settings, links, set())
            await self._stage_rows(plan.rows, _Phase.VANISHED)
            if plan.raised:
                await self.session.execute(_HEADS_PENDING, _head_args(plan.raised))
            await self.session.commit()
            self.session.expunge_all()

    async def drift_entry(self, run: SyncRun) -> dict[str, Any]:
        """A verify run's log line of what it found: records compared, products created again,
        and the store's products Zoho does not know (orphans: listed here, never touched).
        Orphans are unlinked products outside the trash whose SKU no Zoho item carries (one
        read of id and SKU per 100 store products)."""
        assert self.verifier is not None
        listed = await self.store.list_product_skus()
        keys = list({sku.lower() for _, sku in listed if sku})
        known = set((await self.session.scalars(select(_catalogue.c.sku_key).where(
            _catalogue.c.sku_key.in_(keys)))).all()) if keys else set()
        linked = set((await self.session.scalars(select(ProductLink.store_id).where(
            ProductLink.connection_id == self.connection_id,
            ProductLink.store_id.in_([i for i, _ in listed])))).all()) if listed else set()
        orphans = [{"store_id": i, "sku": sku} for i, sku in sorted(listed)
                   if i not in linked and (not sku or sku.lower() not in known)]
        await self.session.commit()
        details = {"checked": self.verifier.checked, "recreated": self.verifier.recreated,
                   "orphan_count": len(orphans), "orphans": orphans[:MAX_ORPHANS_LISTED]}
        return entry(level="info", action="verify", status="checked", connection_id=run.connection_id,
                     run_id=run.id, details=details,
                     message=f"verified {self.verifier.checked} store records; {len(orphans)} store products "
                             "have a SKU Zoho does not know (left as they are)")

    async def _links_of(self, items: list[CatalogItem]) -> Links:
        """The links of a chunk's items and of their groups."""
        links = Links()
        groups = list({item.group_id for item in items if item.group_id})
        _sort_links(links, await self._links_where(or_(
            and_(ProductLink.kind != LinkKind.VARIABLE, ProductLink.zoho_id.in_([i.zoho_item_id for i in items])),
            and_(ProductLink.kind == LinkKind.VARIABLE, ProductLink.zoho_id.in_(groups)),
        )))
        return links

    async def _links_where(self, *where: Any, order: bool = False) -> list[ProductLink]:
        query = select(ProductLink).where(ProductLink.connection_id == self.connection_id, *where)
        if order:
            query = query.order_by(ProductLink.id).limit(PLAN_CHUNK)
        return list(await self.session.scalars(query))

    async def _stage_rows(self, rows: list[PlannedItem], phase: _Phase) -> None:
        if rows:
            await self.session.execute(insert(_rows), [row.columns() | {"phase": phase} for row in rows])


def _head_args(heads: Iterable[HeadRef]) -> dict[str, list[Any]]:
    """`_HEADS`'s parameters for these heads."""
    heads = list(heads)
    return {"groups": [h.group_id for h in heads if h.group_id is not None],
            "parents": [h.store_id for h in heads if h.group_id is None]}


def _staged_item(item: CatalogItem) -> dict[str, Any]:
    return {"zoho_item_id": item.zoho_item_id, "sku_key": item.sku.lower() if item.sku else None,
            "group_id": item.group_id or None, "item": pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)}


async def _start_with_staged_rows(session: AsyncSession, run: SyncRun, token: str, *,
                                  extra_logs: Sequence[dict[str, Any]] = ()) -> str | None:
    """Start the run and copy the staged rows into its items, with the plan's log lines."""
    status = await state.start_planned(session, run_id=run.id, token=token)
    if status is None:
        await session.rollback()
        return None
    await session.execute(_SAVE_ROWS, {"run_id": run.id, "cancelled": status == RunStatus.CANCELLED})
    counts = Counter({str(action): n for action, n in await session.execute(_COUNT_ACTIONS)})
    await write_logs(session, [_plan_entry(run, counts, status=status), *extra_logs])
    await session.execute(_SKIP_LOGS, {"run_id": run.id, "connection_id": run.connection_id})
    await session.commit()
    log.info("plan.saved", run_id=str(run.id), items=sum(counts.values()), status=status)
    return status


async def insert_plan(session: AsyncSession, run: SyncRun, plan: Plan, *, status: str) -> None:
    """The run's items, a log line summing up the plan, and one per skipped item."""
    for start in range(0, len(plan.rows), INSERT_CHUNK):
        await session.execute(insert(SyncRunItem), [row.columns() | {"run_id": run.id}
                                                    for row in plan.rows[start : start + INSERT_CHUNK]])
    skips = [entry(level="info", action="skip", status="skipped", connection_id=run.connection_id, run_id=run.id,
                   sku=row.sku, zoho_item_id=row.zoho_item_id, message=f"skipped: {row.reason}")
             for row in plan.rows if row.action == ItemAction.SKIP]
    await write_logs(session, [_plan_entry(run, plan.summary(), status=status)] + skips)


def _plan_entry(run: SyncRun, counts: Counter[str], *, status: str) -> dict[str, Any]:
    """The log line that sums up a plan."""
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return entry(level="info", action="plan", status=status, connection_id=run.connection_id, run_id=run.id,
                 message=f"planned {sum(counts.values())} items: {summary}", details=dict(counts))
