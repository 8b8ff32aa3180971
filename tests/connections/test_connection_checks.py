"""Test connection (`POST /api/v1/connections/{id}/test`): six checks against the simulators,
each with its verdict and hint, read-only, and a known number of calls."""

from __future__ import annotations

import uuid

from simulators.woocommerce.records import ConsumerKey
from tests.helpers import create_connection, sim, sim_requests

NAMES = ["zoho.token", "zoho.organization", "zoho.scopes", "store.read", "store.write", "store.media"]


async def _test(api, connection_id: str) -> dict[str, dict]:
    response = await api.post(f"/api/v1/connections/{connection_id}/test")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["name"] for c in body["checks"]] == NAMES
    return {c["name"]: c for c in body["checks"]} | {"_ok": body["ok"]}


async def test_every_check_passes_with_a_handful_of_read_only_calls(api, zoho, store, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    sim(zoho_server.base_url, "POST", "/stats/reset")
    sim(woo_server.base_url, "POST", "/stats/reset")

    checks = await _test(api, conn["id"])

    assert checks.pop("_ok") is True
    assert {name: c["verdict"] for name, c in checks.items()} == dict.fromkeys(NAMES, "passed")
    assert "Skubridge Demo Org" in checks["zoho.organization"]["detail"]
    assert all(c["hint"] == "" for c in checks.values())
    zoho_calls = sim_requests(zoho_server.base_url)
    assert zoho_calls == {"POST /oauth/v2/token": 1, "GET /organizations/{organization_id}": 1, "GET /items": 1,
                          "GET /itemgroups": 1, "GET /settings/webhooks": 1}
    assert sim_requests(woo_server.base_url) == {"GET /settings/products": 1, "POST /products/batch": 1,
                                                 "POST /wp/v2/media": 1}
    # Nothing was written: no product, no media.
    stats = sim(woo_server.base_url, "GET", "/stats")
    assert stats["objects_written"] == 0 and stats["media_created"] == 0
    assert sim(woo_server.base_url, "GET", "/products") == [] and sim(woo_server.base_url, "GET", "/media") == []


async def test_a_read_only_key_fails_store_write_with_a_hint(api, zoho, store, zoho_server, woo_server):
    store.consumer_keys["ck_readonly"] = ConsumerKey("ck_readonly", "cs_readonly", "read")
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await api.patch(f"/api/v1/connections/{conn['id']}",
                    json={"woocommerce": {"consumer_key": "ck_readonly", "consumer_secret": "cs_readonly"}})

    checks = await _test(api, conn["id"])

    assert checks["_ok"] is False
    assert checks["store.read"]["verdict"] == "passed"
    write = checks["store.write"]
    assert write["verdict"] == "failed"
    assert "read-only" in write["detail"]
    assert "Read/Write" in write["hint"]
    assert checks["store.media"]["verdict"] == "passed"


async def test_a_wrong_application_password_fails_store_media(api, zoho, store, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await api.patch(f"/api/v1/connections/{conn['id']}",
                    json={"woocommerce": {"wp_application_password": "wrong wrong wrong"}})

    checks = await _test(api, conn["id"])

    media = checks["store.media"]
    assert media["verdict"] == "failed"
    assert "invalid application password" in media["detail"]
    assert "Connect media uploads" in media["hint"]
    assert checks["store.write"]["verdict"] == "passed"


async def test_a_refused_refresh_token_is_reported_and_the_zoho_checks_after_it_skipped(api, zoho, store,
                                                                                         zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    zoho.revoke_token("1000.demo-refresh")

    checks = await _test(api, conn["id"])

    assert checks["zoho.token"]["verdict"] == "failed"
    assert "Reconnect Zoho" in checks["zoho.token"]["hint"]
    for name in ("zoho.organization", "zoho.scopes"):
        assert checks[name]["verdict"] == "skipped"
        assert "zoho.token" in checks[name]["detail"]
    assert checks["store.read"]["verdict"] == "passed"


async def test_a_wrong_organization_and_a_key_the_store_does_not_know(api, zoho, store, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, organization_id="999")
    await api.patch(f"/api/v1/connections/{conn['id']}",
                    json={"woocommerce": {"consumer_key": "ck_unknown", "consumer_secret": "cs_unknown"}})

    checks = await _test(api, conn["id"])

    assert checks["zoho.token"]["verdict"] == "passed"
    assert checks["zoho.organization"]["verdict"] == "failed"
    assert checks["zoho.scopes"]["verdict"] == "skipped"
    assert checks["store.read"]["verdict"] == "failed"
    assert checks["store.read"]["hint"]
    assert checks["store.write"] == {"name": "store.write", "verdict": "skipped",
                                     "detail": "Skipped: store.read failed.", "hint": "Fix store.read first."}


async def test_no_application_password_skips_store_media(api, zoho, store, zoho_server, woo_server):
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    await api.patch(f"/api/v1/connections/{conn['id']}", json={"woocommerce": {"wp_application_password": None}})

    checks = await _test(api, conn["id"])

    assert checks["store.media"]["verdict"] == "skipped"
    assert "Connect media uploads" in checks["store.media"]["hint"]


async def test_an_unknown_connection_is_404(api):
    response = await api.post(f"/api/v1/connections/{uuid.uuid4()}/test")
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"
