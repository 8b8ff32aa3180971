"""PATCH /connections/{id}: re-pointing a store or Zoho needs its secrets again, every documented
setting can be changed, and null is refused wherever it means nothing."""

from __future__ import annotations

import uuid

import pytest

from app.connections.schemas import ConnectionSettings
from app.connections.service import credentials_of, get_connection
from tests.helpers import connection_body

ZOHO_URL, WOO_URL = "http://zoho.test", "https://shop.test"
WOO_SECRETS = {"consumer_key": "ck_new", "consumer_secret": "cs_new", "wp_application_password": "new app pass"}
ZOHO_SECRETS = {"client_secret": "new-secret", "refresh_token": "1000.new-refresh"}
STORED = {"client_id": "1000.DEMOCLIENT", "client_secret": "demo-secret", "refresh_token": "1000.demo-refresh",
          "consumer_key": "ck_demo", "consumer_secret": "cs_demo",
          "wp_application_password": "demo demo demo demo demo demo", "wp_username": "admin"}


async def create(api, **changes) -> dict:
    body = connection_body(ZOHO_URL, WOO_URL)
    for section, values in changes.items():
        body[section] = {k: v for k, v in (body[section] | values).items() if v is not ...}
    response = await api.post("/api/v1/connections", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def stored_credentials(ctx, connection_id: str) -> dict:
    async with ctx.sessionmaker() as session:
        return credentials_of(await get_connection(session, uuid.UUID(connection_id)), keyring=ctx.keyring)


async def patch(api, connection: dict, body: dict):
    return await api.patch(f"/api/v1/connections/{connection['id']}", json=body)


def refused(response, fields: list[str]) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationError"
    assert sorted(body["fields"]) == sorted(fields), body
    for field in fields:
        assert field in body["detail"]


@pytest.mark.parametrize(("change", "missing"), [
    ({"woocommerce": {"base_url": "https://elsewhere.test"}},
     ["woocommerce.consumer_key", "woocommerce.consumer_secret", "woocommerce.wp_application_password"]),
    ({"woocommerce": {"verify_tls": False}},
     ["woocommerce.consumer_key", "woocommerce.consumer_secret", "woocommerce.wp_application_password"]),
    ({"woocommerce": {"base_url": "https://elsewhere.test", "consumer_key": "ck_new"}},
     ["woocommerce.consumer_secret", "woocommerce.wp_application_password"]),
    ({"zoho": {"data_center": "eu"}}, ["zoho.client_secret", "zoho.refresh_token"]),
    ({"zoho": {"api_base_url": "https://zoho.elsewhere.test"}}, ["zoho.client_secret", "zoho.refresh_token"]),
    ({"zoho": {"accounts_base_url": "https://accounts.elsewhere.test", "client_secret": "x"}},
     ["zoho.refresh_token"]),
    ({"zoho": {"api_base_url": None}}, ["zoho.client_secret", "zoho.refresh_token"]),  # back to Zoho's own
])
async def test_re_pointing_without_the_secrets_is_refused_and_changes_nothing(api, ctx, change, missing):
    connection = await create(api)
    response = await patch(api, connection, {"name": "Renamed", "settings": {"batch_size": 7}, **change})
    refused(response, missing)
    assert "must be sent again" in response.json()["detail"]
    after = (await api.get(f"/api/v1/connections/{connection['id']}")).json()
    assert after == connection  # name, settings, URLs, verify_tls: all as they were
    assert await stored_credentials(ctx, connection["id"]) == STORED


async def test_without_a_stored_wordpress_password_it_is_not_asked_for(api):
    connection = await create(api, woocommerce={"wp_username": ..., "wp_application_password": ...})
    refused(await patch(api, connection, {"woocommerce": {"base_url": "https://elsewhere.test"}}),
            ["woocommerce.consumer_key", "woocommerce.consumer_secret"])
    moved = await patch(api, connection, {"woocommerce": {"base_url": "https://elsewhere.test",
                                                           "consumer_key": "ck_new", "consumer_secret": "cs_new"}})
    assert moved.status_code == 200, moved.text


async def test_re_pointing_with_the_secrets_succeeds(api, ctx):
    connection = await create(api)
    moved = await patch(api, connection, {
        "woocommerce": {"base_url": "https://elsewhere.test/", "verify_tls": False, **WOO_SECRETS},
        "zoho": {"data_center": "eu", "api_base_url": "https://zoho.elsewhere.test",
                 "accounts_base_url": "https://accounts.elsewhere.test", **ZOHO_SECRETS}})
    assert moved.status_code == 200, moved.text
    read = moved.json()
    assert read["woocommerce"]["base_url"] == "https://elsewhere.test" and read["woocommerce"]["verify_tls"] is False
    assert (read["zoho"]["data_center"], read["zoho"]["api_base_url"], read["zoho"]["accounts_base_url"]) == (
        "eu", "https://zoho.elsewhere.test", "https://accounts.elsewhere.test")
    for secret in (*WOO_SECRETS.values(), *ZOHO_SECRETS.values()):
        assert secret not in moved.text
    assert await stored_credentials(ctx, connection["id"]) == STORED | WOO_SECRETS | ZOHO_SECRETS


async def test_clearing_the_wordpress_password_while_moving_counts_as_sending_it(api, ctx):
    connection = await create(api)
    moved = await patch(api, connection, {"woocommerce": {
        "base_url": "https://elsewhere.test", "consumer_key": "ck_new", "consumer_secret": "cs_new",
        "wp_application_password": None}})
    assert moved.status_code == 200, moved.text
    assert moved.json()["woocommerce"]["wp_application_password"] is None
    assert (await stored_credentials(ctx, connection["id"]))["wp_application_password"] is None


@pytest.mark.parametrize("same", [
    {"woocommerce": {"base_url": WOO_URL + "/"}},  # a trailing slash is no change
    {"woocommerce": {"base_url": "https://SHOP.test", "verify_tls": True}},  # nor is the host's case
    {"zoho": {"data_center": "com", "api_base_url": ZOHO_URL, "accounts_base_url": ZOHO_URL + "/"}},
])
async def test_sending_the_stored_address_again_is_not_a_change(api, ctx, same):
    connection = await create(api)
    response = await patch(api, connection, {**same, "name": "Same place"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Same place"
    assert await stored_credentials(ctx, connection["id"]) == STORED


# A valid value for every setting, each different from its default. A setting added to
# ConnectionSettings without a sample here fails test_every_setting_has_a_sample.
SAMPLES = {
    "create_missing_products": False,
    "create_missing_variations": False,
    "new_product_status": "publish",
    "sync_fields": ["price", "stock"],
    "warehouse_ids": ["460000000038080", "wh-2"],
    "stock_figure": "actual_available",
    "retired_variations": "outofstock",
    "image_max_edge": 1024,
    "image_format": "webp",
    "image_quality": 70,
    "image_upload": "src",
    "sku_match": "case_insensitive",
    "batch_size": 20,
    "store_concurrency": 4,
    "catchup_interval_minutes": 60,
    "schedule": {"cron": "0 3 * * 1", "mode": "verify", "timezone": "Europe/Berlin"},
}
NULLABLE_SETTINGS = {"warehouse_ids", "schedule"}  # null: every warehouse; no schedule


def test_every_setting_has_a_sample():
    assert set(SAMPLES) == set(ConnectionSettings.model_fields)
    defaults = ConnectionSettings()
    for name, value in SAMPLES.items():
        assert getattr(defaults, name) != value, name
        ConnectionSettings.model_validate({name: value})


async def test_every_documented_setting_can_be_patched_and_read_back(api):
    connection = await create(api)
    expected = dict(connection["settings"])
    for name, value in SAMPLES.items():
        response = await patch(api, connection, {"settings": {name: value}})
        assert response.status_code == 200, (name, response.text)
        expected[name] = value
        assert response.json()["settings"] == expected, name
    assert (await api.get(f"/api/v1/connections/{connection['id']}")).json()["settings"] == expected


async def test_null_settings_are_refused_unless_null_means_something(api):
    connection = await create(api, settings={"warehouse_ids": ["wh-1"]})
    for name in ConnectionSettings.model_fields:
        response = await patch(api, connection, {"settings": {name: None}})
        if name in NULLABLE_SETTINGS:
            assert response.status_code == 200, response.text
            assert response.json()["settings"][name] is None
        else:
            refused(response, [f"settings.{name}"])
    read = (await api.get(f"/api/v1/connections/{connection['id']}")).json()
    assert read["settings"] == ConnectionSettings().model_dump(mode="json")


@pytest.mark.parametrize("body", [
    {"name": None},
    {"woocommerce": {"base_url": None}}, {"woocommerce": {"consumer_key": None}},
    {"woocommerce": {"consumer_secret": None}}, {"woocommerce": {"verify_tls": None}},
    {"zoho": {"client_secret": None}}, {"zoho": {"refresh_token": None}}, {"zoho": {"client_id": None}},
    {"zoho": {"organization_id": None}}, {"zoho": {"data_center": None}},
    {"zoho": {"client_secret": ""}}, {"woocommerce": {"consumer_secret": ""}},
])
async def test_null_or_empty_for_a_required_field_is_refused(api, ctx, body):
    connection = await create(api)
    section, values = next(iter(body.items()))
    field = section if not isinstance(values, dict) else f"{section}.{next(iter(values))}"
    refused(await patch(api, connection, body), [field])
    assert (await api.get(f"/api/v1/connections/{connection['id']}")).json() == connection
    assert await stored_credentials(ctx, connection["id"]) == STORED
