"""The plan's stored payloads: today's version round-trips, the untyped payloads written before
versions existed are read as they were meant, and a version this code does not know fails its
item with the reason while the rest of the batch is written."""

from __future__ import annotations

from typing import Any

import pytest

from app.models import ItemAction, ItemKind
from app.syncs.plan import (
    PAYLOAD_VERSION,
    Free,
    HeadRef,
    Payload,
    ProductDraft,
    RetirementDraft,
    UnreadablePlan,
    VariableDraft,
    VariationDraft,
    dump_payload,
    head_of,
    load_payload,
)
from app.syncs.processor import Claimed
from app.syncs.state import ClaimedRow
from tests.fakes.store import MemoryStore
from tests.syncs.test_ports import claimed, processor

DRAFT = {"sku": "A-1", "price": "5.00"}


@pytest.mark.parametrize(("payload", "kind"), [
    (ProductDraft(DRAFT, {"status": "draft"}, (Free(7), Free(8, parent_id=3))), ItemKind.PRODUCT),
    (VariableDraft(DRAFT | {"kind": "variable"}, {"sku": "zoho-group-g"}), ItemKind.VARIABLE),
    (VariationDraft(DRAFT | {"kind": "variation"}, (Free(9, parent_id=4),)), ItemKind.VARIATION),
    (RetirementDraft({"retire": "private"}), ItemKind.VARIATION),
])
def test_every_payload_type_round_trips_with_its_version(payload: Payload, kind: ItemKind) -> None:
    stored = dump_payload(payload)
    assert stored is not None and stored["v"] == PAYLOAD_VERSION and stored["type"] == payload.TYPE
    assert load_payload(stored, kind) == payload


@pytest.mark.parametrize(("stored", "kind", "expected"), [
    ({"draft": DRAFT, "create": {"status": "draft"}, "frees": [{"store_id": 7, "parent_id": None}]},
     ItemKind.PRODUCT, ProductDraft(DRAFT, {"status": "draft"}, (Free(7),))),
    ({"draft": DRAFT, "create": {"sku": "zoho-group-g"}}, ItemKind.VARIABLE, VariableDraft(DRAFT, {"sku": "zoho-group-g"})),
    ({"draft": DRAFT, "frees": [{"store_id": 9, "parent_id": 4}]}, ItemKind.VARIATION,
     VariationDraft(DRAFT, (Free(9, 4),))),
    ({"draft": {"retire": "private"}, "retire": True}, ItemKind.VARIATION, RetirementDraft({"retire": "private"})),
])
def test_a_payload_stored_before_versions_is_read_by_the_rows_kind(stored: dict[str, Any], kind: ItemKind,
                                                                   expected: Payload) -> None:
    assert load_payload(stored, kind) == expected


@pytest.mark.parametrize("stored", [{"v": PAYLOAD_VERSION + 1, "type": "product", "draft": DRAFT},
                                    {"v": PAYLOAD_VERSION, "type": "bundle", "draft": DRAFT}])
def test_an_unknown_version_or_type_is_refused_with_a_reason(stored: dict[str, Any]) -> None:
    with pytest.raises(UnreadablePlan, match="the next sync plans it again"):
        load_payload(stored, ItemKind.PRODUCT)


def test_heads_are_referred_to_by_group_or_by_store_id_never_by_a_prefixed_id() -> None:
    assert head_of(kind=ItemKind.VARIABLE, group_id="g1", store_id=5, parent_store_id=None) == HeadRef("g1")
    assert head_of(kind=ItemKind.VARIABLE, group_id=None, store_id=5, parent_store_id=None) == HeadRef(store_id=5)
    assert head_of(kind=ItemKind.VARIATION, group_id="g1", store_id=6, parent_store_id=None) == HeadRef("g1")
    assert head_of(kind=ItemKind.VARIATION, group_id=None, store_id=6, parent_store_id=5) == HeadRef(store_id=5)
    assert head_of(kind=ItemKind.PRODUCT, group_id=None, store_id=6, parent_store_id=None) is None


async def test_an_item_whose_payload_is_unreadable_fails_and_the_rest_is_written() -> None:
    row = ClaimedRow(id=2, kind=ItemKind.PRODUCT, zoho_item_id="z2", group_id=None, parent_store_id=None, sku="B-1",
                     action=ItemAction.CREATE, payload={"v": 99, "type": "product", "draft": {"sku": "B-1"}},
                     content_hash="h2", store_id=None, attempts=1)
    store = MemoryStore()
    outcomes = {o.item.id: o for o in await processor(store).write([claimed(1, "A-1"), Claimed.of(row)])}
    assert outcomes[1].ok and store.by_sku("A-1") is not None
    assert not outcomes[2].ok and outcomes[2].error_code == "unreadable_plan" and store.by_sku("B-1") is None
    assert outcomes[2].message == ("its plan was stored by another version of skubridge (payload v99); "
                                   "the next sync plans it again")

