"""Text Postgres cannot store and timestamps that are not ISO 8601 are refused at the edge (422
naming the field), not by the database as a 500."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.api.params import iso_timestamp, storable
from tests.helpers import connection_body


async def test_a_nul_in_a_body_is_refused_naming_the_field(api) -> None:
    body = connection_body("http://zoho.test", "http://store.test")
    body["woocommerce"]["wp_username"] = "shop\x00owner"
    response = await api.post("/api/v1/connections", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationError"
    assert "woocommerce.wp_username" in response.json()["detail"]
    assert (await api.get("/api/v1/connections")).json() == []


async def test_a_lone_surrogate_in_a_body_is_refused(api) -> None:
    raw = '{"name": "caf\\udce9", "zoho": {}, "woocommerce": {}}'
    response = await api.post("/api/v1/connections", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "name" in response.json()["detail"]


@pytest.mark.parametrize("query", ["q=a%00b", "sku=%00", "from=1.5e9", "to=yesterday"])
async def test_bad_log_filters_are_refused(api, query: str) -> None:
    response = await api.get(f"/api/v1/logs?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationError"


async def test_a_date_without_an_offset_reads_as_utc(api) -> None:
    assert (await api.get("/api/v1/logs?from=2026-01-01&to=2026-01-02T00:00:00")).status_code == 200
    assert iso_timestamp("2026-01-01") == datetime(2026, 1, 1, tzinfo=UTC)


def test_storable_walks_lists_and_keys() -> None:
    assert storable({"a": ["x", {"b": "y"}]}) == {"a": ["x", {"b": "y"}]}
    with pytest.raises(ValueError, match=r"a\.1\.b: text must not contain a NUL"):
        storable({"a": ["x", {"b": "y\x00"}]})
