"""The Zoho Inventory simulator over real HTTP: OAuth, items, groups, limits, knobs, stats and
webhook delivery to a real receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.server import ServerThread, free_port
from simulators.zoho.app import create_app
from simulators.zoho.catalogue import (
    DEMO_CREDENTIALS as CREDS,
)
from simulators.zoho.catalogue import (
    generate_catalogue,
    image_colour,
)
from simulators.zoho.state import ZohoState

ORG = CREDS.organization_id
ZOHO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}$")
CATALOGUE = generate_catalogue(450, seed=7, groups=12, image_ratio=0.3)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    thread = ServerThread(create_app(ZohoState(items=CATALOGUE))).start()
    yield thread
    thread.stop()


@pytest.fixture
def http(server: ServerThread) -> Iterator[httpx.Client]:
    """A client on a freshly reset simulator."""
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        client.post("/__sim__/reset").raise_for_status()
        yield client


def token_params(**overrides: str) -> dict[str, str]:
    params = {"client_id": CREDS.client_id, "client_secret": CREDS.client_secret,
              "grant_type": "refresh_token", "refresh_token": CREDS.refresh_token}
    return params | overrides


def get_token(http: httpx.Client) -> str:
    response = http.post("/oauth/v2/token", params=token_params())
    response.raise_for_status()
    return response.json()["access_token"]


def api(http: httpx.Client, path: str, token: str, **params: Any) -> httpx.Response:
    return http.get(f"/inventory/v1{path}", params={"organization_id": ORG, **params},
                    headers={"Authorization": f"Zoho-oauthtoken {token}"})


# --------------------------------------------------------------------------- OAuth


def test_token_flow_issues_working_tokens(http: httpx.Client, server: ServerThread) -> None:
    response = http.post("/oauth/v2/token", params=token_params())
    body = response.json()
    assert response.status_code == 200
    assert body["access_token"].startswith("1000.")
    assert body["expires_in"] == 3600 and body["token_type"] == "Bearer"
    assert body["api_domain"] == server.base_url
    assert api(http, "/items", body["access_token"], per_page=1).json()["code"] == 0
    # A form-encoded body works as well as the query string.
    form = http.post("/oauth/v2/token", data=token_params())
    assert form.status_code == 200 and "access_token" in form.json()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"client_id": "1000.UNKNOWN"}, "invalid_client"),
        ({"refresh_token": "1000.revoked"}, "invalid_code"),
    ],
)
def test_bad_credentials_are_http_200_with_error(http: httpx.Client, overrides: dict, error: str) -> None:
    response = http.post("/oauth/v2/token", params=token_params(**overrides))
    assert response.status_code == 200
    assert response.json() == {"error": error}


def test_token_endpoint_throttles_after_ten(http: httpx.Client) -> None:
    for _ in range(10):
        assert http.post("/oauth/v2/token", params=token_params()).status_code == 200
    denied = http.post("/oauth/v2/token", params=token_params())
    assert denied.status_code == 400
    assert denied.json()["error"] == "Access Denied"
    assert denied.json()["status"] == "failure"
    stats = http.get("/__sim__/stats").json()
    assert stats["tokens_issued"] == 10
    assert stats["tokens_by_refresh_token"] == {CREDS.refresh_token: 10}
    assert stats["requests"]["POST /oauth/v2/token"] == 11


# --------------------------------------------------------------------------- auth and org


def test_api_requires_a_live_zoho_oauthtoken(http: httpx.Client) -> None:
    token = get_token(http)
    for headers in ({}, {"Authorization": "Zoho-oauthtoken 1000.bogus"}, {"Authorization": f"Bearer {token}"}):
        response = http.get("/inventory/v1/items", params={"organization_id": ORG}, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == 57


def test_api_requires_a_known_organization_id(http: httpx.Client) -> None:
    token = get_token(http)
    headers = {"Authorization": f"Zoho-oauthtoken {token}"}
    missing = http.get("/inventory/v1/items", headers=headers)
    wrong = http.get("/inventory/v1/items", params={"organization_id": "999"}, headers=headers)
    for response in (missing, wrong):
        assert response.status_code == 400
        assert response.json()["code"] != 0


def test_expire_tokens_makes_calls_401(http: httpx.Client) -> None:
    token = get_token(http)
    assert http.post("/__sim__/expire-tokens").json() == {"expired": 1}
    assert api(http, "/items", token).status_code == 401
    assert api(http, "/items", get_token(http), per_page=1).status_code == 200


def test_token_ttl_knob_expires_tokens(http: httpx.Client) -> None:
    http.put("/__sim__/config", json={"token_ttl": 1}).raise_for_status()
    token = get_token(http)
    assert api(http, "/items", token, per_page=1).status_code == 200
    time.sleep(1.05)
    assert api(http, "/items", token, per_page=1).status_code == 401


# --------------------------------------------------------------------------- items


def test_paging_walks_450_items_in_pages_of_200(http: httpx.Client) -> None:
    token = get_token(http)
    seen, page, pages = [], 1, []
    while True:
        body = api(http, "/items", token, page=page).json()
        pages.append(body["page_context"])
        seen += [row["item_id"] for row in body["items"]]
        if not body["page_context"]["has_more_page"]:
            break
        page += 1
    assert [len(seen), len(set(seen)), page] == [450, 450, 3]
    assert [p["has_more_page"] for p in pages] == [True, True, False]
    assert pages[0] == {"page": 1, "per_page": 200, "has_more_page": True, "report_name": "Items",
                        "applied_filter": "Status.All", "sort_column": "name", "sort_order": "A"}
    assert api(http, "/items", token, per_page=500).json()["page_context"]["per_page"] == 200


def test_list_rows_have_zoho_types(http: httpx.Client) -> None:
    rows = api(http, "/items", get_token(http)).json()["items"]
    row = rows[0]
    assert isinstance(row["item_id"], str) and isinstance(row["rate"], (int, float))
    assert isinstance(row["stock_on_hand"], (int, float)) and isinstance(row["purchase_rate"], (int, float))
    assert all(isinstance(row[k], str) for k in ("length", "width", "height", "weight"))
    assert {r["weight_unit"] for r in rows} <= {"kg", "g", "lb", "oz"}
    assert {r["dimension_unit"] for r in rows} <= {"cm", "mm", "m", "in", "ft"}
    assert all(r["reorder_level"] == "" or isinstance(r["reorder_level"], int) for r in rows)
    assert ZOHO_TIME.match(row["created_time"]) and ZOHO_TIME.match(row["last_modified_time"])
    assert any(r["group_id"] for r in rows) and any(r["group_id"] == "" for r in rows)


def test_filters_and_sorting(http: httpx.Client) -> None:
    token = get_token(http)

    def ids(**params: Any) -> list[str]:
        return [row["item_id"] for row in api(http, "/items", token, **params).json()["items"]]

    active = [i for p in (1, 2, 3) for i in ids(filter_by="Status.Active", page=p)]
    inactive = ids(filter_by="Status.Inactive")
    assert len(active) + len(inactive) == 450 and inactive
    assert sorted(ids(status="inactive")) == sorted(inactive)
    assert ids(sku="SKB-000123") == [str(4815000000100000 + 123)]
    grouped = [item for item in CATALOGUE if item["group_id"]]
    assert len(ids(filter_by="Status.Grouped")) == len(grouped)
    group_id = grouped[0]["group_id"]
    assert sorted(ids(group_id=group_id)) == sorted(i["item_id"] for i in grouped if i["group_id"] == group_id)
    assert CATALOGUE[0]["item_id"] in ids(search_text=CATALOGUE[0]["name"].upper())
    assert ids(search_text="skb-000450") == [str(4815000000100000 + 450)]
    skus = [row["sku"] for row in api(http, "/items", token, sort_column="sku", sort_order="D").json()["items"]]
    assert skus == sorted(skus, reverse=True) and skus[0] == "SKB-000450"
    assert api(http, "/items", token, filter_by="Status.Bogus").status_code == 400


def test_last_modified_time_accepts_offsets_and_rejects_z(http: httpx.Client) -> None:
    token = get_token(http)
    changed = http.patch(f"/__sim__/items/{CATALOGUE[5]['item_id']}", json={"rate": 9.99}).json()["item"]
    since = "2026-01-01T00:00:00+0000"  # After every generated item, before the patch.
    rows = api(http, "/items", token, last_modified_time=since, sort_column="last_modified_time").json()["items"]
    assert [r["item_id"] for r in rows] == [changed["item_id"]] and rows[0]["rate"] == 9.99
    # Strictly after: the item's own timestamp excludes it.
    assert api(http, "/items", token, last_modified_time=changed["last_modified_time"]).json()["items"] == []
    rejected = api(http, "/items", token, last_modified_time="2026-01-01T00:00:00Z")
    assert rejected.status_code == 400 and rejected.json()["code"] != 0


def test_item_detail_and_itemdetails(http: httpx.Client) -> None:
    token = get_token(http)
    item = api(http, f"/items/{CATALOGUE[0]['item_id']}", token).json()["item"]
    assert set(item["package_details"]) == {"length", "width", "height", "weight", "weight_unit", "dimension_unit"}
    assert item["stock_on_hand"] == sum(loc["location_stock_on_hand"] for loc in item["locations"])
    assert item["available_stock"] == sum(w["warehouse_available_stock"] for w in item["warehouses"])
    missing = api(http, "/items/123", token)
    assert missing.status_code == 404 and missing.json()["code"] == 1002
    wanted = [i["item_id"] for i in CATALOGUE[:99]] + ["4815000000999999"]
    details = api(http, "/itemdetails", token, item_ids=",".join(wanted)).json()["items"]
    assert [d["item_id"] for d in details] == wanted[:99]
    too_many = api(http, "/itemdetails", token, item_ids=",".join(i["item_id"] for i in CATALOGUE[:101]))
    assert too_many.status_code == 400 and too_many.json()["code"] != 0


def test_item_groups_use_the_real_wrapper_and_arrays(http: httpx.Client) -> None:
    token = get_token(http)
    body = api(http, "/itemgroups", token).json()
    assert body["code"] == 0 and len(body["itemgroups"]) == len({i["group_id"] for i in CATALOGUE if i["group_id"]})
    group_id = body["itemgroups"][0]["group_id"]
    group = api(http, f"/itemgroups/{group_id}", token).json()["item_group"]
    assert group["group_id"] == group_id and isinstance(group["items"], list) and len(group["items"]) >= 2
    assert 1 <= len(group["attributes"]) <= 3
    first = group["attributes"][0]
    assert first["name"] == group["attribute_name1"] and first["id"] == group["attribute_id1"]
    assert {o["name"] for o in first["options"]} == {i["attribute_option_name1"] for i in group["items"]}
    assert api(http, "/itemgroups/1", token).status_code == 404


def test_a_group_has_fields_of_its_own(http: httpx.Client) -> None:
    token = get_token(http)
    group_id = next(i["group_id"] for i in CATALOGUE if i["group_id"])
    item = api(http, f"/itemgroups/{group_id}", token).json()["item_group"]["items"][-1]
    changed = http.patch(f"/__sim__/itemgroups/{group_id}", json={
        "group_name": "Linen shirt", "description": "The group's own words.", "brand": "Tecido",
        "image_document_id": "990001", "image_name": "front.png", "image_type": "png"})
    assert changed.status_code == 200, changed.text
    group = api(http, f"/itemgroups/{group_id}", token).json()["item_group"]
    assert (group["group_name"], group["description"], group["brand"]) == (
        "Linen shirt", "The group's own words.", "Tecido")
    assert (group["image_id"], group["image_document_id"], group["image_name"]) == ("990001", "990001", "front.png")
    listed = next(g for g in api(http, "/itemgroups", token).json()["itemgroups"] if g["group_id"] == group_id)
    assert listed["description"] == "The group's own words."
    # Its items keep their own descriptions and carry the group's new name.
    detail = api(http, f"/items/{item['item_id']}", token).json()["item"]
    assert detail["group_name"] == "Linen shirt" and detail["description"] != "The group's own words."
    assert http.patch(f"/__sim__/itemgroups/{group_id}", json={"rate": 1}).status_code == 400
    assert http.patch("/__sim__/itemgroups/1", json={"description": "x"}).status_code == 404


def test_item_image_bytes_and_404(http: httpx.Client) -> None:
    token = get_token(http)
    with_image = next(i for i in CATALOGUE if i["image_name"] and i["image_type"] == "png")
    response = api(http, f"/items/{with_image['item_id']}/image", token)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).getpixel((0, 0)) == image_colour(with_image["item_id"])
    without = next(i for i in CATALOGUE if not i["image_name"])
    missing = api(http, f"/items/{without['item_id']}/image", token)
    assert missing.status_code == 404 and missing.json()["code"] != 0


# --------------------------------------------------------------------------- limits, knobs, stats


def test_per_minute_limit_gives_429_with_retry_after(http: httpx.Client) -> None:
    http.put("/__sim__/config", json={"rate_limit_per_minute": 5}).raise_for_status()
    token = get_token(http)
    responses = [api(http, "/items", token, per_page=1) for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    assert responses[0].headers["X-Rate-Limit-Limit"] == "5"
    assert responses[4].headers["X-Rate-Limit-Remaining"] == "0"
    throttled = responses[5]
    assert throttled.json()["code"] == 44 and 0 < int(throttled.headers["Retry-After"]) <= 60
    assert http.get("/__sim__/stats").json()["throttled"] == 1
    http.put("/__sim__/config", json={"retry_after_seconds": None}).raise_for_status()
    assert "Retry-After" not in api(http, "/items", token).headers


def test_daily_limit_gives_429_code_45(http: httpx.Client) -> None:
    http.put("/__sim__/config", json={"daily_limit": 2, "retry_after_seconds": 1800}).raise_for_status()
    token = get_token(http)
    codes = [api(http, "/items", token, per_page=1) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert codes[2].json()["code"] == 45 and codes[2].headers["Retry-After"] == "1800"


def test_knobs_fault_injection_and_thin_rows(http: httpx.Client) -> None:
    config = http.put("/__sim__/config", json={
        "fail_next": [{"status": 503, "body": {"code": 1000, "message": "down"}, "path_contains": "/itemgroups"}],
        "list_rows_full": False,
    }).json()
    assert config["list_rows_full"] is False and config["rate_limit_per_minute"] == 100
    assert http.put("/__sim__/config", json={"no_such_knob": 1}).status_code == 400
    token = get_token(http)
    row = api(http, "/items", token, per_page=1).json()["items"][0]
    assert "description" not in row and "weight" not in row and "sku" in row
    assert api(http, "/itemgroups", token).status_code == 503  # served once ...
    assert api(http, "/itemgroups", token).status_code == 200  # ... then gone
    http.put("/__sim__/config", json={"rate_5xx": 1.0}).raise_for_status()
    failed = api(http, "/items", token)
    assert failed.status_code == 500 and failed.json() == {"code": 1000, "message": "Internal error"}
    http.put("/__sim__/config", json={"rate_5xx": 0.0, "rate_429": 1.0}).raise_for_status()
    assert api(http, "/items", token).status_code == 429


def test_latency_overlaps_for_concurrent_calls(http: httpx.Client, server: ServerThread) -> None:
    http.put("/__sim__/config", json={"latency_ms": 300}).raise_for_status()
    token = get_token(http)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            calls = [client.get("/inventory/v1/items", params={"organization_id": ORG, "per_page": 1},
                                headers={"Authorization": f"Zoho-oauthtoken {token}"}) for _ in range(5)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    started = time.perf_counter()
    assert asyncio.run(burst()) == [200] * 5
    elapsed = time.perf_counter() - started
    assert 0.3 <= elapsed < 1.2
    started = time.perf_counter()
    http.get("/__sim__/stats")  # Control routes are never delayed.
    assert time.perf_counter() - started < 0.2


def test_stats_count_route_templates_and_reset(http: httpx.Client) -> None:
    token = get_token(http)
    item_id = next(i["item_id"] for i in CATALOGUE if i["image_name"])
    api(http, "/items", token)
    api(http, f"/items/{item_id}", token)
    api(http, f"/items/{item_id}/image", token)
    api(http, "/itemdetails", token, item_ids=item_id)
    requests = http.get("/__sim__/stats").json()["requests"]
    assert requests == {"POST /oauth/v2/token": 1, "GET /items": 1, "GET /items/{item_id}": 1,
                        "GET /items/{item_id}/image": 1, "GET /itemdetails": 1}
    reset = http.post("/__sim__/stats/reset").json()
    assert reset["requests"] == {} and reset["tokens_issued"] == 0


# --------------------------------------------------------------------------- control and settings


def test_control_items_upsert_patch_delete_and_catalogue(http: httpx.Client) -> None:
    token = get_token(http)
    created = http.post("/__sim__/items", json={"name": "Demo Lamp", "sku": "DEMO-1", "rate": 12.5,
                                                "stock_on_hand": 7}).json()["items"][0]
    assert created["item_id"] and created["stock_on_hand"] == 7 and created["locations"][0]["location_stock_on_hand"] == 7
    assert api(http, "/items", token, sku="DEMO-1").json()["items"][0]["rate"] == 12.5
    http.patch(f"/__sim__/items/{created['item_id']}", json={"status": "inactive"}).raise_for_status()
    assert api(http, f"/items/{created['item_id']}", token).json()["item"]["status"] == "inactive"
    assert http.delete(f"/__sim__/items/{created['item_id']}").status_code == 200
    assert api(http, f"/items/{created['item_id']}", token).status_code == 404
    assert http.post("/__sim__/catalogue", json={"count": 30, "seed": 2, "groups": 2}).json() == {"count": 30}
    assert http.get("/__sim__/items").json()["count"] == 30


def test_replacing_an_image_changes_document_id_and_bytes(http: httpx.Client) -> None:
    token = get_token(http)
    item = next(i for i in CATALOGUE if i["image_name"])
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="PNG")
    put = http.put(f"/__sim__/items/{item['item_id']}/image", content=buffer.getvalue(),
                   headers={"Content-Type": "image/png"})
    updated = put.json()["item"]
    assert updated["image_document_id"] != item["image_document_id"] and updated["image_type"] == "png"
    assert updated["last_modified_time"] > item["last_modified_time"]
    assert api(http, f"/items/{item['item_id']}/image", token).content == buffer.getvalue()
    http.delete(f"/__sim__/items/{item['item_id']}/image").raise_for_status()
    assert api(http, f"/items/{item['item_id']}/image", token).status_code == 404


def test_any_bytes_are_served_verbatim_and_broken_images_fail_like_missing_ones(http: httpx.Client) -> None:
    token = get_token(http)
    item_id = next(i["item_id"] for i in CATALOGUE if i["image_name"])
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 9, 9)).save(buffer, format="JPEG")
    for body, sent_type, served_type in ((b"", "image/png", "image/png"), (b"not an image", "text/plain", "image/png"),
                                         (buffer.getvalue()[:200], "image/jpeg", "image/jpeg")):
        http.put(f"/__sim__/items/{item_id}/image", content=body, headers={"Content-Type": sent_type}).raise_for_status()
        served = api(http, f"/items/{item_id}/image", token)
        assert (served.status_code, served.content, served.headers["content-type"]) == (200, body, served_type)
    assert http.put("/__sim__/config", json={"broken_images": [item_id]}).json()["broken_images"] == [item_id]
    broken = api(http, f"/items/{item_id}/image", token)
    assert (broken.status_code, broken.json()) == (404, {"code": 1002, "message": "Image does not exist."})
    listed = api(http, f"/items/{item_id}", token).json()["item"]
    assert listed["image_name"] and listed["image_document_id"] and listed["has_attachment"]
    assert http.put("/__sim__/config", json={"broken_images": item_id}).status_code == 400
    http.post("/__sim__/reset").raise_for_status()
    assert http.get("/__sim__/config").json()["broken_images"] == []


def test_webhook_and_workflow_settings(http: httpx.Client) -> None:
    token = get_token(http)
    headers = {"Authorization": f"Zoho-oauthtoken {token}"}
    params = {"organization_id": ORG}
    hook = http.post("/inventory/v1/settings/webhooks", params=params, headers=headers,
                     json={"webhook_name": "skubridge", "entity": "item", "method": "POST",
                           "url": "https://example.test/hook", "secret": "abcdef123456"})
    assert hook.status_code == 201 and hook.json()["code"] == 0
    webhook_id = hook.json()["webhook"]["webhook_id"]
    flow = http.post("/inventory/v1/settings/workflows", params=params, headers=headers,
                     json={"workflow_name": "items", "entity": "item", "rule_type": "add",
                           "instant_actions": [{"action_type": "webhook", "action_id": webhook_id}]})
    workflow_id = flow.json()["workflow"]["workflow_id"]
    inactive = http.post(f"/inventory/v1/settings/workflows/{workflow_id}/inactive", params=params, headers=headers)
    assert inactive.json()["workflow"]["is_active"] is False
    listed = http.get("/inventory/v1/settings/workflows", params=params, headers=headers).json()["workflows"]
    assert [w["workflow_id"] for w in listed] == [workflow_id]
    for path in (f"/settings/workflows/{workflow_id}", f"/settings/webhooks/{webhook_id}"):
        assert http.delete(f"/inventory/v1{path}", params=params, headers=headers).json()["code"] == 0
    assert http.get("/inventory/v1/settings/webhooks", params=params, headers=headers).json()["webhooks"] == []


# --------------------------------------------------------------------------- webhook delivery

SECRET = "Sk2bridgeSecret0123456789"


@dataclass
class Receiver:
    """A webhook endpoint on a real port: records every request, answers from a script.

    `script` holds (status, delay seconds) answers used in order; once empty, every answer is 200.
    """

    received: list[dict[str, Any]] = field(default_factory=list)
    script: list[tuple[int, float]] = field(default_factory=list)
    base_url: str = ""

    async def endpoint(self, request: Request) -> Response:
        self.received.append({"method": request.method, "path": request.url.path,
                              "query": request.url.query, "headers": request.headers,
                              "body": await request.body()})
        status, delay = self.script.pop(0) if self.script else (200, 0.0)
        await asyncio.sleep(delay)
        return Response(status_code=status)


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[tuple[Receiver, ServerThread]]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/{path:path}", receiver.endpoint, methods=["POST", "PUT", "DELETE"])])
    thread = ServerThread(app).start()
    receiver.base_url = thread.base_url
    yield receiver, thread
    thread.stop()


@pytest.fixture
def receiver(receiver_server: tuple[Receiver, ServerThread], http: httpx.Client) -> Receiver:
    """The receiver, emptied; `http` first, so the simulator's reset has already dropped old jobs."""
    hook = receiver_server[0]
    hook.received.clear()
    hook.script.clear()
    return hook


@pytest.fixture
def state(server: ServerThread) -> ZohoState:
    return server.app.state.zoho  # type: ignore[attr-defined]


def settings_call(http: httpx.Client, method: str, path: str, body: Any = None) -> httpx.Response:
    """An authenticated Inventory call under /inventory/v1/settings."""
    return http.request(method, f"/inventory/v1/settings{path}", params={"organization_id": ORG}, json=body,
                        headers={"Authorization": f"Zoho-oauthtoken {get_token(http)}"})


def make_webhook(http: httpx.Client, url: str, **fields_: Any) -> str:
    body = {"webhook_name": "skubridge", "entity": "item", "method": "POST", "url": url,
            "headers": [], "query_parameters": [], "body_type": "application/json",
            "raw_data": "${JSONString}", "secret": SECRET, **fields_}
    response = settings_call(http, "POST", "/webhooks", body)
    assert response.status_code == 201, response.text
    return response.json()["webhook"]["webhook_id"]


def make_workflow(http: httpx.Client, webhook_id: str, rule_type: str = "add_or_edit", **fields_: Any) -> str:
    body = {"workflow_name": "items", "entity": "item", "rule_type": rule_type,
            "instant_actions": [{"action_type": "webhook", "action_id": webhook_id}], **fields_}
    response = settings_call(http, "POST", "/workflows", body)
    assert response.status_code == 201, response.text
    return response.json()["workflow"]["workflow_id"]


def expected_signature(secret: str, query: str, body: bytes) -> str:
    """Written from the spec (§6.4), not from the simulator: sorted name+value pairs, then body."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True), key=lambda pair: pair[0])
    message = "".join(name + value for name, value in pairs).encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def test_item_edit_delivers_one_signed_webhook(http: httpx.Client, receiver: Receiver, state: ZohoState) -> None:
    webhook_id = make_webhook(
        http, f"{receiver.base_url}/zoho/hook?conn=42",
        query_parameters=[{"param_name": "token", "param_value": "s3cret value"},
                          {"param_name": "a", "param_value": "1"}],
        headers=[{"param_name": "X-Sync-Token", "param_value": "t0k"}])
    workflow_id = make_workflow(http, webhook_id)
    item_id = CATALOGUE[3]["item_id"]
    http.patch(f"/__sim__/items/{item_id}", json={"rate": 42.5}).raise_for_status()
    assert len(state.deliveries) == 1  # queued by the control call itself: exactly one
    assert state.wait_for_deliveries(1)
    [request] = receiver.received
    assert request["method"] == "POST" and request["path"] == "/zoho/hook"
    assert dict(parse_qsl(request["query"])) == {"conn": "42", "token": "s3cret value", "a": "1"}
    assert request["headers"]["content-type"] == "application/json"
    assert request["headers"]["x-sync-token"] == "t0k"
    signature = request["headers"]["x-zoho-webhook-signature"]
    assert signature == expected_signature(SECRET, request["query"], request["body"])
    assert b", " not in request["body"] and b": " not in request["body"]  # compact
    item = api(http, f"/items/{item_id}", get_token(http)).json()["item"]
    assert json.loads(request["body"]) == {"item": item} and item["rate"] == 42.5
    [logged] = http.get("/__sim__/deliveries", params={"item_id": item_id}).json()["deliveries"]
    assert {k: logged[k] for k in ("webhook_id", "workflow_id", "item_id", "event", "status", "attempts",
                                   "outcome", "signature")} == {
        "webhook_id": webhook_id, "workflow_id": workflow_id, "item_id": item_id, "event": "edit",
        "status": 200, "attempts": 1, "outcome": "delivered", "signature": signature}
    assert logged["body"].encode() == request["body"] and abs(logged["sent_at"] - time.time()) < 5
    assert http.get("/__sim__/deliveries", params={"item_id": "1"}).json() == {"count": 0, "deliveries": []}
    assert http.get("/__sim__/stats").json()["webhooks_delivered"] == 1


def test_rules_fire_on_their_events_from_any_thread(http: httpx.Client, receiver: Receiver,
                                                    state: ZohoState) -> None:
    on_add = make_webhook(http, f"{receiver.base_url}/add", secret="")
    on_edit = make_webhook(http, f"{receiver.base_url}/edit", method="PUT")
    make_workflow(http, on_add, "add")
    make_workflow(http, on_edit, "edit")
    make_workflow(http, on_edit, "add_or_edit", entity="salesorder")  # another entity: never fires
    created = http.post("/__sim__/items", json={"name": "Hook Lamp", "sku": "HOOK-1"}).json()["items"][0]
    item_id = created["item_id"]
    state.patch_item(item_id, {"rate": 3})  # straight from the test thread, not the server's loop
    state.set_image(item_id, b"\x89PNG fake")
    before = state.get_item(item_id)
    time.sleep(1.01)  # whole-second timestamps: let the touch move last_modified_time
    touched = http.post(f"/__sim__/items/{item_id}/touch").json()["item"]
    assert touched["last_modified_time"] > before["last_modified_time"]
    assert {k: v for k, v in touched.items() if k != "last_modified_time"} == \
        {k: v for k, v in before.items() if k != "last_modified_time"}
    assert state.wait_for_deliveries(4)
    assert [(r["method"], r["path"]) for r in receiver.received] == [("POST", "/add")] + [("PUT", "/edit")] * 3
    assert "x-zoho-webhook-signature" not in receiver.received[0]["headers"]  # no secret, no signature
    assert [d["event"] for d in state.deliveries] == ["create", "edit", "edit", "edit"]
    assert json.loads(receiver.received[-1]["body"])["item"] == touched


def test_inactive_workflow_delivers_nothing(http: httpx.Client, receiver: Receiver, state: ZohoState) -> None:
    workflow_id = make_workflow(http, make_webhook(http, f"{receiver.base_url}/hook"))
    off = settings_call(http, "POST", f"/workflows/{workflow_id}/inactive")
    assert off.json()["workflow"]["is_active"] is False
    item_id = CATALOGUE[4]["item_id"]
    http.patch(f"/__sim__/items/{item_id}", json={"rate": 1.5}).raise_for_status()
    assert state.deliveries == []
    # Back on, one touch: the worker sends in order, so an earlier stray would arrive first.
    settings_call(http, "POST", f"/workflows/{workflow_id}/active").raise_for_status()
    http.post(f"/__sim__/items/{item_id}/touch").raise_for_status()
    assert state.wait_for_deliveries(1)
    assert len(receiver.received) == 1 and json.loads(receiver.received[0]["body"])["item"]["rate"] == 1.5


def test_receiver_down_is_retried_then_given_up(http: httpx.Client, receiver: Receiver, state: ZohoState) -> None:
    http.put("/__sim__/config", json={"webhook_retry_delay_ms": 20}).raise_for_status()
    make_workflow(http, make_webhook(http, f"http://127.0.0.1:{free_port()}/nobody-home"))
    http.post(f"/__sim__/items/{CATALOGUE[5]['item_id']}/touch").raise_for_status()
    assert state.wait_for_deliveries(1)
    [logged] = http.get("/__sim__/deliveries").json()["deliveries"]
    assert logged["attempts"] == 3 and logged["outcome"] == "failed"
    assert isinstance(logged["status"], str) and "ConnectError" in logged["status"]
    stats = http.get("/__sim__/stats").json()
    assert (stats["webhooks_delivered"], stats["webhooks_failed"]) == (0, 1)


def test_5xx_and_timeouts_are_retried_4xx_is_not(http: httpx.Client, receiver: Receiver, state: ZohoState) -> None:
    http.put("/__sim__/config", json={"webhook_retry_delay_ms": 20, "webhook_timeout_seconds": 0.3}).raise_for_status()
    make_workflow(http, make_webhook(http, f"{receiver.base_url}/hook"))
    receiver.script += [(503, 0.0), (200, 1.0), (200, 0.0), (401, 0.0)]
    item_id = CATALOGUE[6]["item_id"]
    http.post(f"/__sim__/items/{item_id}/touch").raise_for_status()  # 503, timeout, 200
    http.post(f"/__sim__/items/{item_id}/touch").raise_for_status()  # 401: given up at once
    assert state.wait_for_deliveries(2)
    first, second = state.list_deliveries()
    assert (first["outcome"], first["attempts"], first["status"]) == ("delivered", 3, 200)
    assert (second["outcome"], second["attempts"], second["status"]) == ("failed", 1, 401)
    bodies = [r["body"] for r in receiver.received]
    assert len(bodies) == 4 and len(set(bodies[:3])) == 1  # a retry resends the same bytes


def test_delivery_never_blocks_the_control_call(http: httpx.Client, receiver: Receiver, state: ZohoState) -> None:
    http.put("/__sim__/config", json={"webhook_latency_ms": 400}).raise_for_status()
    make_workflow(http, make_webhook(http, f"{receiver.base_url}/hook"))
    started = time.perf_counter()
    http.post(f"/__sim__/items/{CATALOGUE[7]['item_id']}/touch").raise_for_status()
    assert time.perf_counter() - started < 0.3
    assert receiver.received == [] and not state.wait_for_deliveries(1, timeout=0.05)
    assert state.wait_for_deliveries(1) and len(receiver.received) == 1


def test_redeliver_replays_identical_bytes_and_signature(http: httpx.Client, receiver: Receiver,
                                                         state: ZohoState) -> None:
    webhook_id = make_webhook(http, f"{receiver.base_url}/hook",
                              query_parameters=[{"param_name": "z", "param_value": "last"}])
    make_workflow(http, webhook_id)
    item_id = CATALOGUE[8]["item_id"]
    http.patch(f"/__sim__/items/{item_id}", json={"rate": 8.0}).raise_for_status()
    http.patch(f"/__sim__/items/{item_id}", json={"rate": 9.0}).raise_for_status()  # the item moves on
    replay = http.post("/__sim__/webhooks/redeliver", json={"delivery_index": 0}).json()["delivery"]
    assert replay["index"] == 2 and replay["replay_of"] == 0
    assert state.wait_for_deliveries(3)
    original, _, replayed = receiver.received
    assert replayed["body"] == original["body"] and replayed["query"] == original["query"]
    assert replayed["headers"]["x-zoho-webhook-signature"] == original["headers"]["x-zoho-webhook-signature"]
    assert json.loads(replayed["body"])["item"]["rate"] == 8.0
    assert http.post("/__sim__/webhooks/redeliver", json={"delivery_index": 9}).status_code == 404
    assert http.post("/__sim__/webhooks/redeliver", json={"index": 0}).status_code == 400


@pytest.mark.parametrize("secret", ["abcdef12345", "abcdef-123456", "abcdéf123456", "a" * 51])
def test_bad_secrets_are_refused(http: httpx.Client, secret: str) -> None:
    response = settings_call(http, "POST", "/webhooks", {"url": "https://example.test/hook", "secret": secret})
    assert response.status_code == 400 and response.json()["code"] != 0


def test_webhook_records_hide_the_secret_and_guard_their_use(http: httpx.Client, state: ZohoState) -> None:
    created = settings_call(http, "POST", "/webhooks", {
        "webhook_name": "w", "entity": "item", "url": "https://example.test/hook", "secret": "a" * 50,
        "query_parameters": [{"param_name": "k", "param_value": "v"}], "description": "d"}).json()
    assert created["code"] == 0 and created["message"]
    webhook = created["webhook"]
    assert "secret" not in webhook and webhook["query_parameters"] == [{"param_name": "k", "param_value": "v"}]
    assert (webhook["method"], webhook["body_type"], webhook["description"]) == ("POST", "application/json", "d")
    webhook_id = webhook["webhook_id"]
    assert "secret" not in settings_call(http, "GET", "/webhooks").json()["webhooks"][0]
    assert settings_call(http, "GET", f"/webhooks/{webhook_id}").json()["webhook"] == webhook
    workflow_id = make_workflow(http, webhook_id)
    assert settings_call(http, "GET", f"/workflows/{workflow_id}").json()["workflow"]["is_active"] is True
    in_use = settings_call(http, "DELETE", f"/webhooks/{webhook_id}")
    assert in_use.status_code == 400 and in_use.json()["code"] != 0
    dangling = settings_call(http, "POST", "/workflows", {
        "workflow_name": "x", "entity": "item", "rule_type": "add",
        "instant_actions": [{"action_type": "webhook", "action_id": "123"}]})
    assert dangling.status_code == 400 and dangling.json()["code"] != 0
    for path in ("/webhooks/123", "/workflows/123"):
        missing = settings_call(http, "GET", path)
        assert missing.status_code == 404 and missing.json()["code"] == 1002
    assert settings_call(http, "POST", "/workflows/123/active").status_code == 404
    http.post("/__sim__/reset").raise_for_status()
    assert (state.webhooks, state.workflows, state.deliveries) == ({}, {}, [])


# --------------------------------------------------------------------------- generator


def test_generator_is_deterministic_and_realistic() -> None:
    first = generate_catalogue(200, seed=5, groups=8, image_ratio=0.5)
    assert first == generate_catalogue(200, seed=5, groups=8, image_ratio=0.5)
    assert first != generate_catalogue(200, seed=6, groups=8, image_ratio=0.5)
    assert [i["sku"] for i in first[:2]] == ["SKB-000001", "SKB-000002"]
    assert all(round(i["rate"], 2) == i["rate"] and 0 <= i["stock_on_hand"] <= 500 for i in first)
    assert any(i["stock_on_hand"] == 0 for i in first) and any(i["status"] == "inactive" for i in first)
    assert {i["weight_unit"] for i in first} >= {"kg", "g"} and "kg" in {i["weight_unit"] for i in first}
    grouped = [i for i in first if i["group_id"]]
    assert len({i["group_id"] for i in grouped}) == 8
    assert all(i["attribute_name1"] and i["attribute_option_name1"] for i in grouped)
    assert any(i["image_name"] for i in first) and any(not i["image_name"] for i in first)
