"""The planner and the processor against the in-memory adapters of tests/fakes: the engine's
decisions through its ports alone, with no HTTP and no database."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from app.catalog.types import CatalogItem, WriteResult
from app.connections.schemas import ConnectionSettings
from app.models import ItemAction, ItemKind, ItemStatus
from app.ports.errors import AuthRefused, Unavailable
from app.syncs.plan import Free, Payload, ProductDraft, VariableDraft, VariationDraft
from app.syncs.planner import Links, decide_plan
from app.syncs.processor import BatchProcessor, Claimed, RunFailure
from tests.fakes.store import MemoryCatalog, MemoryStore

SETTINGS = ConnectionSettings(sync_fields=["name", "price", "stock"])


def item(n: int, sku: str | None, **fields: Any) -> CatalogItem:
    return CatalogItem(zoho_item_id=f"z{n}", name=f"Item {n}", sku=sku, price=Decimal("5"),
                       available_stock=Decimal(3), **fields)


def claimed(n: int, sku: str, action: str = ItemAction.CREATE, *, store_id: int | None = None,
            kind: str = ItemKind.PRODUCT, group_id: str | None = None, frees: tuple[Free, ...] = ()) -> Claimed:
    draft: dict[str, Any] = {"sku": sku, "name": f"Item {n}", "zoho_item_id": f"z{n}"}
    payload: Payload = ProductDraft(draft, {"status": "draft"}, frees)
    if kind == ItemKind.VARIATION:
        payload = VariationDraft(draft | {"kind": "variation"}, frees)
    elif kind == ItemKind.VARIABLE:
        payload = VariableDraft(draft | {"kind": "variable"}, {"status": "draft"})
    return Claimed(id=n, zoho_item_id=f"z{n}", sku=sku, action=action, content_hash=f"h{n}", store_id=store_id,
                   attempts=1, kind=kind, group_id=group_id, payload=payload)


def processor(store: MemoryStore, **settings: Any) -> BatchProcessor:
    """A processor whose context is never reached: these batches carry no images and no frees."""
    return BatchProcessor(ctx=SimpleNamespace(), run_id=None, connection_id=None,  # type: ignore[arg-type]
                          lease=SimpleNamespace(token="t", lost=False),  # type: ignore[arg-type]
                          store=store, store_settings=store.settings, settings=SETTINGS.model_copy(update=settings))


@pytest.mark.parametrize("order", ["as_sent", "reversed", "shuffled"])
async def test_results_are_matched_to_items_by_identity_whatever_order_the_store_answers_in(order):
    store = MemoryStore(answer_order=order)
    old = store.add("OLD-1")
    batch = [claimed(1, "NEW-1"), claimed(2, "OLD-1", ItemAction.UPDATE, store_id=old), claimed(3, "NEW-2"),
             claimed(4, "NEW-3")]
    outcomes = {o.item.id: o for o in await processor(store).write(batch)}
    assert all(o.ok for o in outcomes.values())
    for n, sku in ((1, "NEW-1"), (3, "NEW-2"), (4, "NEW-3")):
        assert outcomes[n].created and outcomes[n].store_id == store.by_sku(sku).id  # type: ignore[union-attr]
    assert outcomes[2].store_id == old and not outcomes[2].created


async def test_freed_skus_are_told_apart_from_the_items_by_key_not_by_position():
    """A product holding a SKU the same Zoho item needs elsewhere is freed in the items' own batch;
    the store answering updates first must not mix the freeing up with the items."""
    store = MemoryStore(answer_order="reversed")
    earlier = store.add("MOVED-1", name="earlier role")
    proc = processor(store)
    freed: list[list[WriteResult]] = []

    async def after_free(results: list[WriteResult]) -> None:
        freed.append(results)
    proc._after_free = after_free  # type: ignore[method-assign]  # its link update needs a database
    batch = [claimed(1, "NEW-1"), claimed(2, "MOVED-1", frees=(Free(earlier),))]
    outcomes = {o.item.id: o for o in await proc.write(batch)}
    assert [[(r.store_id, r.ok) for r in results] for results in freed] == [[(earlier, True)]]
    assert store.products[earlier].sku == "" and outcomes[2].store_id == store.by_sku("MOVED-1").id != earlier
    assert outcomes[1].store_id == store.by_sku("NEW-1").id and store.batches == [(None, 2, 1)]


async def test_a_create_refused_for_a_duplicate_sku_updates_the_holder():
    store = MemoryStore()
    holder = store.add("DUP-1", name="merchant's")
    [outcome] = await processor(store).write([claimed(1, "DUP-1")])
    assert outcome.ok and outcome.store_id == holder and not outcome.created
    assert store.products[holder].fields["name"] == "Item 1" and len(store.batches) == 2


async def test_a_gone_object_is_created_again_or_fails_when_creating_is_off():
    store = MemoryStore()
    [outcome] = await processor(store).write([claimed(1, "GONE-1", ItemAction.UPDATE, store_id=555)])
    assert outcome.ok and outcome.created and outcome.store_id == store.by_sku("GONE-1").id
    store = MemoryStore()
    [outcome] = await processor(store, create_missing_products=False).write(
        [claimed(1, "GONE-2", ItemAction.UPDATE, store_id=556)])
    assert not outcome.ok and outcome.error_code == "no_such_object"
    assert outcome.message == "#556 no longer exists in the store and creating is off"


async def test_a_sku_held_in_the_trash_fails_with_what_to_do():
    store = MemoryStore()
    store.add("BIN-1", trashed=True)
    [outcome] = await processor(store).write([claimed(1, "BIN-1")])
    assert not outcome.ok and outcome.error_code == "sku_taken"
    assert outcome.message == ("sku_taken: SKU BIN-1 is taken (a product in the store's Trash holds this SKU: "
                               "restore it or empty the Trash)")


async def test_variations_go_under_their_variable_product_and_fail_with_it():
    store = MemoryStore()
    head = claimed(10, "zoho-group-g1", kind=ItemKind.VARIABLE, group_id="g1")
    head.zoho_item_id = "g1"
    variants = [claimed(n, f"V-{n}", kind=ItemKind.VARIATION, group_id="g1") for n in (11, 12)]
    outcomes = {o.item.id: o for o in await processor(store).write([head, *variants])}
    parent = outcomes[10].store_id
    assert all(o.ok for o in outcomes.values()) and store.products[parent].kind == "variable"
    assert {store.products[outcomes[n].store_id].parent_id for n in (11, 12)} == {parent}  # type: ignore[index]
    assert all(outcomes[n].parent_id == parent for n in (11, 12))

    orphan = claimed(13, "V-13", kind=ItemKind.VARIATION, group_id="g2")
    [outcome] = await processor(store).write([orphan])
    assert not outcome.ok and outcome.error_code == "parent_failed"


@pytest.mark.parametrize(("error", "raised"), [(Unavailable("down"), Unavailable), (AuthRefused("no"), RunFailure)])
async def test_an_outage_pauses_and_refused_credentials_fail_before_anything_is_recorded(error, raised):
    store = MemoryStore(fail_with=error)
    with pytest.raises(raised):
        await processor(store).process([claimed(1, "X-1")])


async def test_the_plan_creates_updates_and_skips_through_the_ports():
    store = MemoryStore()
    listed = store.add("IN-STORE")
    store.add("VAR-1", kind="variation", parent_id=1)
    items = [item(1, "NEW"), item(2, "IN-STORE"), item(3, None), item(4, "TWICE"), item(5, "twice"),
             item(6, "VAR-1"), item(7, "OFF", active=False)]
    plan = await decide_plan(items, links=Links(), catalog=MemoryCatalog(items), store=store,
                             store_settings=store.settings, settings=SETTINGS)
    rows = {row.zoho_item_id: row for row in plan.rows}
    assert (rows["z1"].action, rows["z1"].status) == (ItemAction.CREATE, ItemStatus.PENDING)
    assert (rows["z2"].action, rows["z2"].store_id) == (ItemAction.UPDATE, listed)
    assert rows["z2"].payload == ProductDraft({"sku": "IN-STORE", "zoho_item_id": "z2", "name": "Item 2",
                                               "price": "5.00", "stock": 3}, {"status": "draft", "name": "Item 2"})
    assert {rows[z].reason for z in ("z3", "z4", "z5", "z6", "z7")} == {
        "no SKU in Zoho", "SKU 'TWICE' is on 2 Zoho items", "SKU 'twice' is on 2 Zoho items",
        "SKU 'VAR-1' belongs to variation #102 of product #1 in the store", "inactive in Zoho"}


async def test_a_webhooks_few_items_bring_their_whole_group():
    members = [item(n, f"G-{n}", group_id="g1", group_name="Shirt", attributes=(("Size", s),))
               for n, s in ((1, "S"), (2, "M"))]
    store = MemoryStore()
    plan = await decide_plan(members[:1], links=Links(), catalog=MemoryCatalog(members), store=store,
                             store_settings=store.settings, settings=SETTINGS, whole_catalogue=False)
    kinds = sorted((str(row.kind), row.zoho_item_id, row.group_id, row.sku, str(row.action)) for row in plan.rows)
    assert kinds == [("variable", "g1", "g1", "zoho-group-g1", "create"), ("variation", "z1", "g1", "G-1", "create"),
                     ("variation", "z2", "g1", "G-2", "create")]
