from decimal import Decimal

import pytest

from app.catalog.types import CatalogItem, StoreSettings
from app.connections.schemas import ConnectionSettings
from app.syncs.drafts import LENGTH_IN_MM, WEIGHT_IN_GRAMS, UnitError, build_draft, content_hash, convert, format_price

STORE = StoreSettings(weight_unit="lbs", dimension_unit="in", manage_stock=True)


def item(**overrides) -> CatalogItem:
    base = dict(zoho_item_id="1", name="Widget", sku="W-1", description="Steel", price=Decimal("21.99"),
                available_stock=Decimal("42"), actual_available_stock=Decimal("40"), reorder_level=Decimal("5"),
                weight=Decimal("1"), weight_unit="kg", length=Decimal("10"), width=Decimal("5"), height=Decimal("2"),
                dimension_unit="cm")
    return CatalogItem(**(base | overrides))


def test_draft_converts_units_to_the_stores():
    draft = build_draft(item(), settings=ConnectionSettings(), store=STORE)
    assert draft["weight"] == "2.2046"  # 1 kg in lbs
    assert draft["dimensions"] == {"length": "3.937", "width": "1.9685", "height": "0.7874"}
    assert draft["price"] == "21.99" and draft["stock"] == 42 and draft["low_stock"] == 5


def test_draft_only_holds_toggled_fields_and_the_sku():
    draft = build_draft(item(), settings=ConnectionSettings(sync_fields=["stock"]), store=STORE)
    assert set(draft) == {"sku", "zoho_item_id", "stock"}


def test_stock_figure_and_fractions_round_down():
    settings = ConnectionSettings(stock_figure="actual_available")
    assert build_draft(item(actual_available_stock=Decimal("3.9")), settings=settings, store=STORE)["stock"] == 3


def test_untracked_stock_is_none():
    assert build_draft(item(tracks_stock=False), settings=ConnectionSettings(), store=STORE)["stock"] is None


@pytest.mark.parametrize("price,expected", [(Decimal("5"), "5.00"), (Decimal("1.255"), "1.255"),
                                            (Decimal("99.9"), "99.90"), (None, "")])
def test_price_format(price, expected):
    assert format_price(price) == expected


def test_unknown_unit_is_refused():
    with pytest.raises(UnitError):
        convert(Decimal(1), "stone", "kg", WEIGHT_IN_GRAMS, "weight")


def test_same_unit_is_kept_verbatim():
    assert convert(Decimal("0.350"), "cm", "cm", LENGTH_IN_MM, "dimension") == "0.35"


def test_hash_changes_with_content_only():
    a = build_draft(item(), settings=ConnectionSettings(), store=STORE)
    b = build_draft(item(), settings=ConnectionSettings(), store=STORE)
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(build_draft(item(price=Decimal("22")), settings=ConnectionSettings(), store=STORE))


def test_stock_of_chosen_warehouses_is_summed():
    from app.catalog.types import PlaceStock

    places = (PlaceStock("w1", "Main", Decimal("5"), Decimal("4")), PlaceStock("w2", "Overflow", Decimal("3"), Decimal("1")),
              PlaceStock("w3", "Shop", Decimal("100"), Decimal("90")))
    stocked = item(stock_by_place=places)
    assert build_draft(stocked, settings=ConnectionSettings(warehouse_ids=["w1", "w2"]), store=STORE)["stock"] == 8
    actual = ConnectionSettings(warehouse_ids=["w1", "w2"], stock_figure="actual_available")
    assert build_draft(stocked, settings=actual, store=STORE)["stock"] == 5
    assert build_draft(stocked, settings=ConnectionSettings(warehouse_ids=["w9"]), store=STORE)["stock"] == 0
    assert build_draft(stocked, settings=ConnectionSettings(), store=STORE)["stock"] == 42  # the org total
