"""WooCommerce client against the simulator: Basic over HTTPS, OAuth 1.0a over HTTP, bulk
look-ups, batch limits and error mapping."""

from __future__ import annotations

import pytest

from app.catalog.types import ProductWrite, StoreSettings, WriteStatus
from app.integrations.woocommerce.client import WooClient, _refusal
from app.integrations.woocommerce.errors import WooAuthError, WooUnavailable
from simulators.server import ServerThread
from simulators.woocommerce.app import create_app
from simulators.woocommerce.tls import make_self_signed_cert

SETTINGS = StoreSettings(weight_unit="kg", dimension_unit="cm", manage_stock=True)


@pytest.fixture(scope="module")
def https_store(tmp_path_factory):
    certfile, keyfile = make_self_signed_cert(tmp_path_factory.mktemp("tls"))
    server = ServerThread(create_app(), ssl_certfile=certfile, ssl_keyfile=keyfile).start()
    yield server
    server.stop()


def writes(*skus: str) -> list[ProductWrite]:
    return [ProductWrite(n, {"sku": s, "name": s, "price": "1.50", "stock": 2, "status": "draft"})
            for n, s in enumerate(skus)]


async def test_basic_auth_over_https(https_store):
    https_store.app.state.store.reset()
    async with WooClient(base_url=https_store.base_url, consumer_key="ck_demo", consumer_secret="cs_demo",
                         verify_tls=False) as client:
        results = await client.batch_products(creates=writes("H-1", "H-2"), settings=SETTINGS)
        assert all(r.ok for r in results)
        found = await client.find_by_skus(["H-1", "h-2", "H-3"])
    assert set(found) == {"h-1", "h-2"} and found["h-2"].sku == "H-2"


async def test_wrong_secret_over_https_is_an_auth_error(https_store):
    async with WooClient(base_url=https_store.base_url, consumer_key="ck_demo", consumer_secret="cs_bad",
                         verify_tls=False) as client:
        with pytest.raises(WooAuthError, match="Consumer secret is invalid"):
            await client.get_store_settings()


async def test_self_signed_certificate_is_refused_when_verifying(https_store):
    async with WooClient(base_url=https_store.base_url, consumer_key="ck_demo", consumer_secret="cs_demo",
                         max_attempts=1) as client:
        with pytest.raises(WooUnavailable, match="CERTIFICATE_VERIFY_FAILED|ConnectError"):
            await client.get_store_settings()


async def test_oauth_signatures_hold_for_awkward_skus_over_http(store, woo_server):
    skus = ["A/B 1", "C&D+2", "ÜMLAUT-3", "comma,sku"]
    async with WooClient(base_url=woo_server.base_url, consumer_key="ck_demo", consumer_secret="cs_demo") as client:
        results = await client.batch_products(creates=writes(*skus), settings=SETTINGS)
        assert all(r.ok for r in results), results
        found = await client.find_by_skus(skus + ["missing"])
    assert set(found) == {s.lower() for s in skus}


async def test_batch_results_map_to_inputs_with_vendor_errors(store, woo_server):
    async with WooClient(base_url=woo_server.base_url, consumer_key="ck_demo", consumer_secret="cs_demo") as client:
        await client.batch_products(creates=writes("E-1"), settings=SETTINGS)
        results = await client.batch_products(
            creates=writes("E-2", "e-1"), updates=[ProductWrite(7, {"price": "2.00"}, store_id=999999)],
            settings=SETTINGS)
        store.reset_stats()
        # The store refuses more than 100 objects a call (capture 12): 101 go as 100 + 1.
        many = await client.batch_products(creates=writes(*[f"X-{n}" for n in range(101)]), settings=SETTINGS)
    assert len(many) == 101 and all(r.ok for r in many)
    assert store.stats()["requests"]["POST /products/batch"] == 2
    by_key = {r.key: r for r in results}
    assert by_key[0].ok and by_key[0].status == WriteStatus.CREATED
    assert by_key[1].error_code == "product_invalid_sku" and by_key[1].held_by is not None
    assert by_key[1].status == WriteStatus.DUPLICATE_SKU
    assert by_key[7].error_code == "woocommerce_rest_product_invalid_id" and by_key[7].store_id == 999999
    assert by_key[7].status == WriteStatus.GONE


async def test_store_without_stock_management_gets_stock_status(store, woo_server):
    from app.integrations.woocommerce.mapping import draft_to_wc

    off = StoreSettings(weight_unit="kg", dimension_unit="cm", manage_stock=False)
    assert draft_to_wc({"stock": 0}, settings=off) == {"stock_status": "outofstock"}
    assert draft_to_wc({"stock": 3, "low_stock": 2}, settings=SETTINGS) == {
        "manage_stock": True, "stock_quantity": 3, "low_stock_amount": 2}
    assert draft_to_wc({"stock": None}, settings=SETTINGS) == {"manage_stock": False, "stock_status": "instock"}


@pytest.mark.parametrize(("error", "parent_id", "status", "held_by"), [
    ({"code": "product_invalid_sku", "message": "taken", "data": {"resource_id": 42}}, None,
     WriteStatus.DUPLICATE_SKU, 42),
    ({"code": "product_invalid_sku", "message": "taken", "data": {"resource_id": 0}}, None, WriteStatus.REFUSED, None),
    ({"code": "woocommerce_rest_product_invalid_id", "message": "gone"}, None, WriteStatus.GONE, None),
    ({"code": "woocommerce_rest_product_invalid_id", "message": "gone"}, 9, WriteStatus.REFUSED, None),
    ({"code": "woocommerce_rest_product_variation_invalid_id", "message": "gone"}, 9, WriteStatus.GONE, None),
    ({"code": "woocommerce_rest_product_not_created", "message": "SKU in the lookup table"}, None,
     WriteStatus.TRASHED_SKU, None),
    ({"code": "woocommerce_rest_product_not_created", "message": "other"}, None, WriteStatus.REFUSED, None),
])
def test_the_stores_refusals_in_the_engines_words(error, parent_id, status, held_by):
    result = _refusal(ProductWrite(3, {}, store_id=5), error, parent_id=parent_id)
    assert (result.key, result.status, result.held_by, result.store_id) == (3, status, held_by, 5)
    assert (result.error_code, result.error_message) == (error["code"], error["message"]) and not result.ok
