"""Connections over the API: CRUD, redaction, encryption at rest, validation, auth."""

import uuid

from sqlalchemy import text

from tests.helpers import connection_body

SECRETS = ["1000.DEMOCLIENT", "demo-secret", "1000.demo-refresh", "ck_demo", "cs_demo"]


async def test_create_read_list_update_delete(api, ctx):
    body = connection_body("http://zoho.test", "https://shop.test")
    created = await api.post("/api/v1/connections", json=body)
    assert created.status_code == 201
    conn = created.json()
    assert conn["name"] == "Test store"
    assert conn["zoho"]["organization_id"] == "10234695"
    assert conn["settings"]["batch_size"] == 50 and conn["settings"]["new_product_status"] == "draft"
    for secret in SECRETS:
        assert secret not in created.text

    listed = (await api.get("/api/v1/connections")).json()
    assert [c["id"] for c in listed] == [conn["id"]]

    patched = await api.patch(f"/api/v1/connections/{conn['id']}", json={
        "name": "Renamed", "settings": {"batch_size": 20}, "woocommerce": {"consumer_secret": "cs_new"}})
    assert patched.status_code == 200
    assert patched.json()["name"] == "Renamed"
    assert patched.json()["settings"]["batch_size"] == 20
    assert patched.json()["settings"]["sync_fields"] == body["settings"].get("sync_fields", patched.json()["settings"]["sync_fields"])
    assert "cs_new" not in patched.text

    from app.connections.service import credentials_of, get_connection
    async with ctx.sessionmaker() as session:
        stored = await get_connection(session, uuid.UUID(conn["id"]))
        creds = credentials_of(stored, keyring=ctx.keyring)
    assert creds["consumer_secret"] == "cs_new" and creds["consumer_key"] == "ck_demo"

    assert (await api.delete(f"/api/v1/connections/{conn['id']}")).status_code == 204
    missing = await api.get(f"/api/v1/connections/{conn['id']}")
    assert missing.status_code == 404
    assert missing.json()["error"] == "NotFound"


async def test_credentials_are_encrypted_at_rest(api, ctx):
    await api.post("/api/v1/connections", json=connection_body("http://zoho.test", "https://shop.test"))
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(text("SELECT row_to_json(c)::text FROM connections c"))).scalar()
    for secret in SECRETS:
        assert secret not in row


async def test_invalid_bodies_name_the_field(api):
    cases = [
        ({"zoho": {"data_center": "mars"}}, "zoho.data_center"),
        ({"settings": {"batch_size": 101}}, "settings.batch_size"),
        ({"settings": {"new_product_status": "live"}}, "settings.new_product_status"),
        ({"settings": {"sync_fields": ["price", "colour"]}}, "settings.sync_fields.1"),
        ({"settings": {"create_missing": True}}, "settings.create_missing"),
        ({"woocommerce": {"base_url": "not a url"}}, "woocommerce.base_url"),
        ({"name": ""}, "name"),
    ]
    for change, field in cases:
        body = connection_body("http://zoho.test", "https://shop.test")
        for section, values in change.items():
            body[section] = body[section] | values if isinstance(values, dict) else values
        response = await api.post("/api/v1/connections", json=body)
        assert response.status_code == 422, (change, response.text)
        assert response.json()["error"] == "ValidationError"
        assert field in response.json()["fields"], (field, response.json())


async def test_unknown_ids_and_bad_ids(api):
    assert (await api.get(f"/api/v1/connections/{uuid.uuid4()}")).status_code == 404
    assert (await api.patch(f"/api/v1/connections/{uuid.uuid4()}", json={"name": "x"})).status_code == 404
    assert (await api.get(f"/api/v1/syncs/{uuid.uuid4()}")).status_code == 404
    bad = await api.get("/api/v1/connections/not-a-uuid")
    assert bad.status_code == 422 and bad.json()["error"] == "ValidationError"


async def test_every_api_route_needs_the_token(api):
    routes = [("GET", "/api/v1/connections"), ("POST", "/api/v1/connections"), ("GET", "/api/v1/logs"),
              ("GET", f"/api/v1/syncs/{uuid.uuid4()}"), ("POST", f"/api/v1/syncs/{uuid.uuid4()}/pause")]
    for method, path in routes:
        for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
            response = await api.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["error"] == "Unauthorized"
    assert (await api.get("/healthz", headers={"Authorization": ""})).status_code == 200


async def test_readiness_and_metrics(api):
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok"}
    metrics = await api.get("/metrics")
    assert metrics.status_code == 200 and "skubridge_runs" in metrics.text
