"""Verify runs: the store's own records, not our content hashes, decide what to write.

A standard run leaves an item alone when the content it would write hashes as last time, so an
edit made in the store (a price typed by hand, a product deleted) stays until Zoho changes. A
verify run plans every linked item as an update, then this step reads the store's current
records of a planned chunk (products 100 a call, variations one call per variable product) and
compares them field by field with what the run would write, through the preview's comparison:

- nothing differs: the item is unchanged, nothing is written;
- fields differ: only the draft fields behind them are written, and the item lists them as
  `changes` ([{"field", "store", "zoho"}], the store's field names);
- the record is gone: the product is created again (its variations with it) when
  `create_missing_products` is on, else skipped with the reason;
- the record is in the store's trash: it is restored by an update that sets its status back to
  the one it had before it was trashed (the store remembers it), or the connection's
  `new_product_status` when it does not; the fields that differ are repaired in the same write.
  A trashed variation comes back the same way (variations are written as published).

Images compare by media id: a picture the store lost is attached again by the id it already
has, never downloaded again; only an image identity never seen before goes to the image step.
Retirements and SKU moves are planned as in a standard run and are not narrowed.

Reads stay within ceil(products / 100) over the whole run, not per planning chunk: the simple
products at the tail of a chunk that would not fill a read of 100 are held back (`hold_tail`)
and read with the next chunk's (the next simple chunk, or the first chunk of groups, whose
variable products fill the same read). Held rows are staged after the next chunk's simple rows:
only the order they are written in moves, never their phase.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from app.catalog.types import StoreSettings
from app.connections.schemas import ConnectionSettings
from app.core.context import AppContext
from app.models import ItemAction, ItemKind, ItemStatus
from app.ports.store import STATUS_BEFORE_TRASH, TRASHED, Fields, Store
from app.previews.diff import differences
from app.syncs.media import Known, media_for, with_known_media
from app.syncs.plan import HeadRef, PlannedItem, ProductDraft, VariableDraft, VariationDraft

RECREATED = "deleted in the store; created again"
GONE_NO_CREATE = "deleted in the store and create_missing_products is off"
# Draft keys that name the object rather than set a field: kept in every narrowed draft.
_IDENTITY = ("kind",)
#: Products per read of the store's records (the store port reads them 100 a call).
PRODUCTS_PER_READ = 100


@dataclass
class Verifier:
    """The verify step of one run's plan; `checked` counts the store records compared."""

    ctx: AppContext
    connection_id: uuid.UUID
    store: Store
    store_settings: StoreSettings
    settings: ConnectionSettings
    checked: int = 0
    recreated: int = 0

    def hold_tail(self, held: list[PlannedItem], rows: list[PlannedItem]) -> tuple[list[PlannedItem],
                                                                                   list[PlannedItem]]:
        """`held + rows` (simple products only) split into the rows to check now, whose store
        reads fill whole calls of 100, and the tail to hold for the next chunk's reads."""
        rows = held + rows
        reads = [i for i, r in enumerate(rows) if _comparable(r)]
        spare = len(reads) % PRODUCTS_PER_READ
        if not spare:
            return rows, []
        tail = set(reads[-spare:])
        return [r for i, r in enumerate(rows) if i not in tail], [rows[i] for i in sorted(tail)]

    async def check(self, rows: list[PlannedItem]) -> list[PlannedItem]:
        """`rows` (one planned chunk, heads before their variations) narrowed to what differs:
        one read per 100 products, then one per variable product still in the store."""
        media = await media_for(self.ctx, self.connection_id,
                                (r.payload.fields for r in rows if _comparable(r) and r.payload))
        tops = [r.store_id for r in rows if _comparable(r) and r.kind != ItemKind.VARIATION and r.store_id]
        products = await self.store.current_fields(tops, []) if tops else {}
        # A variable product compared and not found is gone, and its variations with it.
        gone = {r.head for r in rows if r.kind == ItemKind.VARIABLE and _comparable(r) and r.store_id not in products}
        parents = {r.head: r.store_id for r in rows if r.kind == ItemKind.VARIABLE and r.head not in gone}
        wanted = {parents[r.head] for r in rows if _comparable(r) and r.kind == ItemKind.VARIATION
                  and r.head in parents}
        variations = await self.store.current_fields([], sorted(p for p in wanted if p)) if wanted else {}
        out = []
        for row in rows:
            if not _comparable(row):
                out.append(row)
            elif row.kind == ItemKind.VARIATION:
                out.append(self._variation(row, variations, media, gone_parent=row.head in gone))
            else:
                out.append(self._top(row, products.get(row.store_id) if row.store_id else None, media))
        return _settle_heads(out)

    def _top(self, row: PlannedItem, have: Fields | None, media: Known) -> PlannedItem:
        assert row.payload is not None
        self.checked += 1
        if have is None:
            if not self.settings.create_missing_products:
                return _skip(row, GONE_NO_CREATE)
            return self._recreate(row, row.payload.fields | row.payload.create, media)
        return self._narrow(row, have, media)

    def _variation(self, row: PlannedItem, variations: dict[int, Fields], media: Known, *,
                   gone_parent: bool) -> PlannedItem:
        assert row.payload is not None
        self.checked += 1
        have = None if gone_parent else variations.get(row.store_id or 0)
        if have is not None:
            return self._narrow(row, have, media)
        if gone_parent and not self.settings.create_missing_products:
            return _skip(row, GONE_NO_CREATE)
        if not gone_parent and not self.settings.create_missing_variations:
            return _skip(row, "deleted in the store and create_missing_variations is off")
        return self._recreate(row, row.payload.fields, media)

    def _recreate(self, row: PlannedItem, draft: dict[str, Any], media: Known) -> PlannedItem:
        self.recreated += 1
        intended = self.store.intended_fields(with_known_media(draft, media), settings=self.store_settings)
        return replace(row, action=ItemAction.CREATE, status=ItemStatus.PENDING, store_id=None, reason=RECREATED,
                       changes=differences(intended, None, self.store.comparison))

    def _narrow(self, row: PlannedItem, have: Fields, media: Known) -> PlannedItem:
        """The row writing only the draft fields whose store values differ; unchanged when none."""
        assert row.payload is not None
        draft = dict(row.payload.fields)
        if have.get(TRASHED) and row.kind != ItemKind.VARIATION:
            draft["status"] = have.get(STATUS_BEFORE_TRASH) or self.settings.new_product_status
        shown = with_known_media(draft, media)
        changes = differences(self.store.intended_fields(shown, settings=self.store_settings), have,
                              self.store.comparison)
        if not changes:
            return replace(row, action=ItemAction.UNCHANGED, status=ItemStatus.SYNCED,
                           payload=row.payload if row.kind == ItemKind.VARIABLE else None)
        keep = {key for key in draft if key not in _IDENTITY and self._differs(key, draft, shown, have)}
        narrowed = {k: v for k, v in draft.items() if k in keep or k in _IDENTITY}
        return replace(row, action=ItemAction.UPDATE, status=ItemStatus.PENDING, changes=changes,
                       payload=_with_fields(row.payload, narrowed))

    def _differs(self, key: str, draft: dict[str, Any], shown: dict[str, Any], have: Fields) -> bool:
        one = {k: shown[k] for k in (key, *_IDENTITY) if k in shown}
        if key not in one:
            return False
        intended = self.store.intended_fields(one, settings=self.store_settings)
        return bool(differences(intended, have, self.store.comparison))


def _skip(row: PlannedItem, reason: str) -> PlannedItem:
    return replace(row, action=ItemAction.SKIP, status=ItemStatus.SKIPPED, reason=reason, payload=None)


def _comparable(row: PlannedItem) -> bool:
    """Rows the verify step reads the store for: linked updates of products, variable products
    and variations (retirements and SKU moves are written as planned)."""
    payload = row.payload
    if row.action != ItemAction.UPDATE or row.store_id is None or payload is None:
        return False
    return not payload.retires and not payload.frees


def _with_fields(payload: Any, fields: dict[str, Any]) -> Any:
    assert isinstance(payload, ProductDraft | VariableDraft | VariationDraft)
    return replace(payload, fields=fields)


def _settle_heads(rows: list[PlannedItem]) -> list[PlannedItem]:
    """A variable product's row is pending when it is written or any of its variations is."""
    busy: set[HeadRef] = {r.head for r in rows if r.kind == ItemKind.VARIATION and r.status == ItemStatus.PENDING
                          and r.head is not None}
    out = []
    for row in rows:
        if row.kind == ItemKind.VARIABLE and row.head in busy and row.status != ItemStatus.PENDING:
            row = row.pending()
        out.append(row)
    return out
