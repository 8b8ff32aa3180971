"""The plan's vocabulary: a planned item (one run item), what it writes (a typed payload: a
product, a variable product, a variation or a retirement), and which variable product a
variation is written under (`HeadRef`).

The store fields themselves stay a mapping in our own field names (`ProductWrite.draft`, the
store port's input); the types say which fields and extras each kind of write carries.

What an item is, and which group it belongs to, are fields of their own, never parts of an id:
a variable product's row holds its item group's id in `zoho_item_id` and `group_id` (as its
product link holds it in `zoho_id`), and a variable product that no item group stands for any
more (the parent of variations whose items are gone) has no Zoho id at all, only its store id.

Payloads are stored as JSON with a version, `v`. Version 0 is the untyped shape written before
`v` existed (`draft`, `create`, `frees`, `retire`; the row's kind tells the type): such items,
planned before an upgrade and resumed after it, are read as they were meant. A payload of a
version this code does not know (written by a newer release that was rolled back) is never
guessed at: reading it raises `UnreadablePlan`, and the processor fails that item with the
reason (the next run plans it afresh) while the rest of the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from app.catalog.types import CatalogItem
from app.models import ItemAction, ItemKind, ItemStatus

PAYLOAD_VERSION = 1


class UnreadablePlan(ValueError):
    """A stored payload this version cannot read: its item fails with this message."""


@dataclass(frozen=True, slots=True)
class Free:
    """A store object holding a SKU the same Zoho item needs in its new role: its SKU is cleared
    and it is set aside first. `parent_id` is set for a variation."""

    store_id: int
    parent_id: int | None = None


@dataclass(frozen=True, slots=True)
class ProductDraft:
    """A simple product: the store fields to write (`drafts.build_draft`), what a create adds,
    and the SKUs to free before it."""

    TYPE: ClassVar[str] = "product"
    fields: dict[str, Any]
    create: dict[str, Any]
    frees: tuple[Free, ...] = ()
    retires: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class VariableDraft:
    """An item group's variable product: its fields and what a create adds."""

    TYPE: ClassVar[str] = "variable"
    fields: dict[str, Any]
    create: dict[str, Any]
    frees: ClassVar[tuple[Free, ...]] = ()
    retires: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class VariationDraft:
    """A variant's variation: its fields and the SKUs to free before it (never created bare)."""

    TYPE: ClassVar[str] = "variation"
    fields: dict[str, Any]
    frees: tuple[Free, ...] = ()
    create: ClassVar[dict[str, Any]] = {}
    retires: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class RetirementDraft:
    """A variation Zoho no longer offers there: set aside (out of stock, private), never deleted."""

    TYPE: ClassVar[str] = "retirement"
    fields: dict[str, Any]
    create: ClassVar[dict[str, Any]] = {}
    frees: ClassVar[tuple[Free, ...]] = ()
    retires: ClassVar[bool] = True


Payload = ProductDraft | VariableDraft | VariationDraft | RetirementDraft


def dump_payload(payload: Payload | None) -> dict[str, Any] | None:
    """The JSON stored in `sync_run_items.payload`."""
    if payload is None:
        return None
    data: dict[str, Any] = {"v": PAYLOAD_VERSION, "type": payload.TYPE, "draft": payload.fields}
    if isinstance(payload, ProductDraft | VariableDraft):
        data["create"] = payload.create
    if payload.frees:
        data["frees"] = [{"store_id": f.store_id, "parent_id": f.parent_id} for f in payload.frees]
    return data


def load_payload(data: dict[str, Any] | None, kind: str) -> Payload | None:
    """A stored payload, of this version or of version 0 (see the module's docstring)."""
    if data is None:
        return None
    version = data.get("v", 0)
    if version not in (0, PAYLOAD_VERSION):
        raise UnreadablePlan(f"its plan was stored by another version of skubridge (payload v{version}); "
                             "the next sync plans it again")
    kind_type: dict[str, str] = {ItemKind.PRODUCT: "product", ItemKind.VARIABLE: "variable",
                                 ItemKind.VARIATION: "variation"}
    type_ = data.get("type") if version else ("retirement" if data.get("retire") else kind_type.get(kind))
    draft, create = data.get("draft") or {}, data.get("create") or {}
    frees = tuple(Free(int(f["store_id"]), None if f.get("parent_id") is None else int(f["parent_id"]))
                  for f in data.get("frees") or ())
    match type_:
        case "product":
            return ProductDraft(draft, create, frees)
        case "variable":
            return VariableDraft(draft, create)
        case "variation":
            return VariationDraft(draft, frees)
        case "retirement":
            return RetirementDraft(draft)
    raise UnreadablePlan(f"its plan holds a payload of unknown type {type_!r}; the next sync plans it again")


@dataclass(frozen=True, slots=True)
class HeadRef:
    """A variable product in a run: an item group's, or one no group stands for, by store id.
    Its variations are claimed and written with it."""

    group_id: str | None = None
    store_id: int | None = None


def head_of(*, kind: str, group_id: str | None, store_id: int | None, parent_store_id: int | None) -> HeadRef | None:
    """The variable product a row is (kind variable) or is written under (a variation); None for
    a simple product or a variation with no head (a skipped variant)."""
    if kind == ItemKind.VARIABLE:
        return HeadRef(group_id) if group_id is not None else HeadRef(store_id=store_id)
    if group_id is not None:
        return HeadRef(group_id)
    return HeadRef(store_id=parent_store_id) if parent_store_id is not None else None


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """One run item as planned: what it is, what will happen to it and, for a write, what to write."""

    kind: ItemKind
    zoho_item_id: str | None
    sku: str | None
    name: str
    action: ItemAction
    status: ItemStatus
    reason: str | None = None
    payload: Payload | None = None
    content_hash: str | None = None
    store_id: int | None = None
    # The item group whose variable product this row is (kind variable) or is written under.
    group_id: str | None = None
    # A variation written under a variable product no item group stands for: that product.
    parent_store_id: int | None = None
    # A verify run's repair: what differs, field by field ([{"field", "store", "zoho"}]).
    changes: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, item: CatalogItem, action: ItemAction, status: ItemStatus, *, kind: ItemKind = ItemKind.PRODUCT,
           head: HeadRef | None = None, **fields: Any) -> PlannedItem:
        return cls(kind=kind, zoho_item_id=item.zoho_item_id, sku=item.sku, name=item.name, action=action,
                   status=status, **under(head), **fields)

    @property
    def head(self) -> HeadRef | None:
        return head_of(kind=self.kind, group_id=self.group_id, store_id=self.store_id,
                       parent_store_id=self.parent_store_id)

    def pending(self) -> PlannedItem:
        return replace(self, status=ItemStatus.PENDING)

    def columns(self) -> dict[str, Any]:
        """Its `sync_run_items` columns (the run's own aside)."""
        return {"zoho_item_id": self.zoho_item_id, "kind": self.kind, "group_id": self.group_id,
                "parent_store_id": self.parent_store_id, "sku": self.sku, "name": self.name[:2000],
                "action": self.action, "status": self.status, "reason": self.reason,
                "payload": dump_payload(self.payload), "content_hash": self.content_hash, "store_id": self.store_id,
                "changes": self.changes}


def under(head: HeadRef | None) -> dict[str, Any]:
    """The fields that put a variation under `head`."""
    if head is None:
        return {}
    if head.group_id is not None:
        return {"group_id": head.group_id}
    return {"parent_store_id": head.store_id}
