"""The WooCommerce simulator against the recorded exchanges of a real WooCommerce 11.0.1 store.

Everything goes over real HTTP (ServerThread + httpx). The numbered tests replay a capture of
shared/reference/woocommerce-captures/ after setting up the state it needs and compare status,
error bodies, key fields and headers; `test_every_capture_replayed_in_order` replays the whole
recorded session and compares complete bodies (shared/ must sit beside the checkout).
"""

from __future__ import annotations

import asyncio
import base64
import glob
import hashlib
import hmac
import json
import re
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import Response

from simulators.server import ServerThread
from simulators.woocommerce.app import create_app
from simulators.woocommerce.records import StoreKnobs
from simulators.woocommerce.state import StoreState
from simulators.woocommerce.tls import make_self_signed_cert

CK, CS = "ck_demo", "cs_demo"
APP_USER, APP_PASSWORD = "admin", "demo demo demo demo demo demo"
API = "/wp-json/wc/v3"
# shared/ sits beside the checkout (the developers' machines and CI alike).
CAPTURES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "woocommerce-captures"

CAPTURE_01_BODY = {
    "name": "CAP Capture Widget 10mm",
    "type": "simple",
    "status": "draft",
    "sku": "CAP-C-1001",
    "description": "<p>Stainless widget, <strong>10 mm</strong>. Synced from Zoho item 4815000000123456.</p>",
    "regular_price": "21.99",
    "manage_stock": True,
    "stock_quantity": 42,
    "low_stock_amount": 5,
    "weight": "0.35",
    "dimensions": {"length": "10", "width": "5", "height": "2"},
    "meta_data": [{"key": "_zoho_item_id", "value": "4815000000123456"}],
}
# Capture 01's product keys, in order (edit context; view drops the last two before _links).
PRODUCT_KEYS = (
    "id name slug permalink date_created date_created_gmt date_modified date_modified_gmt type status featured "
    "catalog_visibility description short_description sku price regular_price sale_price date_on_sale_from "
    "date_on_sale_from_gmt date_on_sale_to date_on_sale_to_gmt on_sale purchasable total_sales virtual downloadable "
    "downloads download_limit download_expiry external_url button_text tax_status tax_class manage_stock "
    "stock_quantity backorders backorders_allowed backordered low_stock_amount sold_individually weight dimensions "
    "shipping_required shipping_taxable shipping_class shipping_class_id reviews_allowed average_rating rating_count "
    "upsell_ids cross_sell_ids parent_id purchase_note categories brands tags images attributes default_attributes "
    "variations grouped_products menu_order price_html related_ids meta_data stock_status has_options post_password "
    "global_unique_id permalink_template generated_slug _links"
).split()
VIEW_KEYS = [k for k in PRODUCT_KEYS if k not in ("permalink_template", "generated_slug")]
TSHIRT = {
    "name": "CAP Capture T-Shirt",
    "type": "variable",
    "status": "draft",
    "sku": "CAP-C-TSHIRT",
    "description": "<p>Zoho item group 4815000000999.</p>",
    "attributes": [
        {"name": "Color", "position": 0, "visible": True, "variation": True, "options": ["Red", "Blue"]},
        {"name": "Size", "position": 1, "visible": True, "variation": True, "options": ["M", "L"]},
    ],
}


def variation_body(sku: str, price: str, stock: int, color: str, size: str) -> dict[str, Any]:
    return {
        "sku": sku,
        "regular_price": price,
        "manage_stock": True,
        "stock_quantity": stock,
        "low_stock_amount": 2,
        "weight": "0.2",
        "dimensions": {"length": "30", "width": "20", "height": "1"},
        "attributes": [{"name": "Color", "option": color}, {"name": "Size", "option": size}],
    }


def make_png(width: int = 64, height: int = 48, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid PNG without any imaging library."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


RED_PNG = make_png()


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    certfile, keyfile = make_self_signed_cert(tmp_path_factory.mktemp("tls"))
    server = ServerThread(create_app(StoreState()), ssl_certfile=certfile, ssl_keyfile=keyfile).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http_server() -> Iterator[ServerThread]:
    server = ServerThread(create_app(StoreState())).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def image_server() -> Iterator[ServerThread]:
    """A remote host with a PNG, a text file and nothing else (404)."""
    app = FastAPI()

    @app.get("/img/{name}")
    async def image(name: str) -> Response:
        if name.endswith(".png"):
            return Response(RED_PNG, media_type="image/png")
        if name.endswith(".txt"):
            return Response(b"not an image", media_type="text/plain")
        return Response(b"missing", status_code=404)

    server = ServerThread(app).start()
    yield server
    server.stop()


def store_of(server: ServerThread) -> StoreState:
    return server.app.state.store  # type: ignore[attr-defined]


def fresh(server: ServerThread) -> StoreState:
    """Empty store, default knobs (ids start again at 452, like the captures)."""
    store = store_of(server)
    store.reset()
    store.knobs = StoreKnobs()
    return store


@pytest.fixture
def woo(https_server: ServerThread) -> Iterator[httpx.Client]:
    """A client authenticated as the captures were: HTTPS + Basic consumer key."""
    fresh(https_server)
    with httpx.Client(base_url=https_server.base_url, auth=(CK, CS), verify=False, timeout=10) as client:
        yield client


@pytest.fixture
def plain(http_server: ServerThread) -> Iterator[httpx.Client]:
    fresh(http_server)
    with httpx.Client(base_url=http_server.base_url, timeout=10) as client:
        yield client


def create_widget(woo: httpx.Client, **changes: Any) -> dict[str, Any]:
    response = woo.post(f"{API}/products", json={**CAPTURE_01_BODY, **changes})
    assert response.status_code == 201, response.text
    return response.json()


def create_tshirt_with_variations(woo: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    parent = woo.post(f"{API}/products", json=TSHIRT).json()
    batch = {
        "create": [
            variation_body("CAP-C-TSHIRT-RED-M", "19.00", 5, "Red", "M"),
            variation_body("CAP-C-TSHIRT-RED-L", "19.00", 0, "Red", "L"),
            variation_body("CAP-C-TSHIRT-BLU-M", "21.00", 8, "Blue", "M"),
            variation_body("CAP-C-1001", "21.00", 1, "Blue", "L"),
        ]
    }
    response = woo.post(f"{API}/products/{parent['id']}/variations/batch", json=batch)
    assert response.status_code == 200
    return parent, response.json()


# ------------------------------------------------------------------ products (captures 01-12)


def test_capture_01_create_simple_product(woo: httpx.Client, https_server: ServerThread) -> None:
    response = woo.post(f"{API}/products", json=CAPTURE_01_BODY)
    base = https_server.base_url
    body = response.json()
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.headers["link"] == f'<{base}/wp-json/>; rel="https://api.w.org/"'
    assert list(body) == PRODUCT_KEYS
    assert {k: body[k] for k in ("id", "slug", "status", "type", "price", "regular_price", "sale_price")} == {
        "id": 452, "slug": "", "status": "draft", "type": "simple", "price": "21.99", "regular_price": "21.99",
        "sale_price": "",
    }  # fmt: skip
    assert body["permalink"] == f"{base}/?post_type=product&p=452"
    assert body["description"] == CAPTURE_01_BODY["description"]  # raw in edit context
    assert (body["average_rating"], body["stock_status"], body["stock_quantity"], body["low_stock_amount"]) == ("0", "instock", 42, 5)
    assert body["dimensions"] == {"length": "10", "width": "5", "height": "2"} and body["weight"] == "0.35"
    assert body["categories"] == [{"id": 15, "name": "Uncategorized", "slug": "uncategorized"}]
    assert [(m["key"], m["value"]) for m in body["meta_data"]] == [("_zoho_item_id", "4815000000123456")]
    assert isinstance(body["meta_data"][0]["id"], int)
    assert body["permalink_template"] == f"{base}/product/%pagename%/"
    assert body["generated_slug"] == "cap-capture-widget-10mm"
    assert body["_links"]["self"][0] == {
        "href": f"{base}{API}/products/452",
        "targetHints": {"allow": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
    }
    assert response.headers["location"] == f"{base}{API}/products/452"


def test_capture_03_get_by_sku_is_view_context(woo: httpx.Client) -> None:
    create_widget(woo)
    response = woo.get(f"{API}/products", params={"sku": "CAP-C-1001"})
    assert response.status_code == 200
    assert (response.headers["x-wp-total"], response.headers["x-wp-totalpages"]) == ("1", "1")
    [product] = response.json()
    assert list(product) == VIEW_KEYS
    assert product["description"] == CAPTURE_01_BODY["description"] + "\n"  # wpautop
    assert product["average_rating"] == "0.00"
    assert [p["id"] for p in woo.get(f"{API}/products", params={"sku": "cap-c-1001"}).json()] == [452]
    missing = woo.get(f"{API}/products", params={"sku": "CAP-C-NOPE"})
    assert missing.json() == [] and missing.headers["x-wp-total"] == "0" and missing.headers["x-wp-totalpages"] == "0"


def test_capture_05_06_stock_status_follows_quantity(woo: httpx.Client) -> None:
    create_widget(woo)
    out = woo.put(f"{API}/products/452", json={"regular_price": "24.50", "stock_quantity": 0}).json()
    assert (out["price"], out["regular_price"], out["stock_quantity"], out["stock_status"]) == ("24.50", "24.50", 0, "outofstock")
    back = woo.put(f"{API}/products/452", json={"stock_quantity": "7"}).json()  # "7" is an integer to WordPress
    assert (back["stock_quantity"], back["stock_status"], back["average_rating"]) == (7, "instock", "0")
    backorder = woo.put(f"{API}/products/452", json={"stock_quantity": 0, "backorders": "notify"}).json()
    assert backorder["stock_status"] == "onbackorder" and backorder["backorders_allowed"] is True
    assert woo.put(f"{API}/products/452", json={"regular_price": "1,234.50"}).json()["regular_price"] == "1234.50"
    assert woo.put(f"{API}/products/452", json={"weight": "0,35"}).json()["weight"] == "035"  # wc_format_decimal


def test_capture_07_number_price_is_rejected(woo: httpx.Client) -> None:
    response = woo.post(f"{API}/products", json={**CAPTURE_01_BODY, "sku": "CAP-C-1002", "regular_price": 21.99})
    assert response.status_code == 400
    assert response.json() == {
        "code": "rest_invalid_param",
        "message": "Invalid parameter(s): regular_price",
        "data": {
            "status": 400,
            "params": {"regular_price": "regular_price is not of type string."},
            "details": {
                "regular_price": {
                    "code": "rest_invalid_type",
                    "message": "regular_price is not of type string.",
                    "data": {"param": "regular_price"},
                }
            },
        },
    }
    assert woo.get("/__sim__/products").json() == []


def test_capture_08_every_bad_field_in_one_400(woo: httpx.Client) -> None:
    create_widget(woo)
    body = {"stock_quantity": 5.5, "weight": 0.35, "dimensions": {"length": 10}, "status": "live"}
    response = woo.put(f"{API}/products/452", json=body)
    assert response.status_code == 400
    enum = "status is not one of draft, pending, private, publish, future, auto-draft, and trash."
    assert response.json() == {
        "code": "rest_invalid_param",
        "message": "Invalid parameter(s): status, stock_quantity, weight, dimensions",
        "data": {
            "status": 400,
            "params": {
                "status": enum,
                "stock_quantity": "stock_quantity is not of type integer.",
                "weight": "weight is not of type string.",
                "dimensions": "dimensions[length] is not of type string.",
            },
            "details": {
                "status": {"code": "rest_not_in_enum", "message": enum, "data": None},
                "stock_quantity": {
                    "code": "rest_invalid_type",
                    "message": "stock_quantity is not of type integer.",
                    "data": {"param": "stock_quantity"},
                },
                "weight": {"code": "rest_invalid_type", "message": "weight is not of type string.", "data": {"param": "weight"}},
                "dimensions": {
                    "code": "rest_invalid_type",
                    "message": "dimensions[length] is not of type string.",
                    "data": {"param": "dimensions[length]"},
                },
            },
        },
    }
    assert woo.get(f"{API}/products/452").json()["stock_quantity"] == 42  # nothing applied
    assert woo.put(f"{API}/products/452", json={"regular_price": None}).json()["regular_price"] == ""  # null clears


def test_capture_09_duplicate_sku(woo: httpx.Client) -> None:
    create_widget(woo)
    response = woo.post(f"{API}/products", json={"name": "CAP duplicate", "sku": "CAP-C-1001", "regular_price": "1.00"})
    assert response.status_code == 400
    assert response.json() == {
        "code": "product_invalid_sku",
        "message": "Invalid or duplicated SKU.",
        "data": {"status": 400, "resource_id": 452, "unique_sku": "CAP-C-1001-1"},
    }
    lower = woo.post(f"{API}/products", json={"name": "x", "sku": "cap-c-1001"}).json()
    assert lower["data"] == {"status": 400, "resource_id": 452, "unique_sku": "cap-c-1001-1"}


def test_capture_10_batch_reports_errors_in_place(woo: httpx.Client) -> None:
    create_widget(woo)
    batch = {
        "create": [
            {"name": "CAP Batch A", "sku": "CAP-C-2001", "regular_price": "5.00", "status": "draft", "manage_stock": True, "stock_quantity": 3},
            {"name": "CAP Batch duplicate", "sku": "CAP-C-1001", "regular_price": "5.00", "status": "draft"},
            {"name": "CAP Batch B", "sku": "CAP-C-2002", "regular_price": 7.5, "status": "draft"},
            {"name": "CAP Batch C (deleted below)", "sku": "CAP-C-2003", "regular_price": "1.00", "status": "draft"},
        ],
        "update": [{"id": 452, "regular_price": "25.00", "stock_quantity": 12}, {"id": 999999, "regular_price": "1.00"}],
        "delete": [999998],
    }
    response = woo.post(f"{API}/products/batch", json=batch)
    assert response.status_code == 200
    result = response.json()
    assert [item["id"] for item in result["create"]] == [453, 0, 454, 455]
    assert result["create"][1] == {
        "id": 0,
        "error": {
            "code": "product_invalid_sku",
            "message": "Invalid or duplicated SKU.",
            "data": {"status": 400, "resource_id": 452, "unique_sku": "CAP-C-1001-1"},
        },
    }
    assert result["create"][2]["regular_price"] == "7.5"  # batch items are not type-checked
    assert list(result["create"][0]) == PRODUCT_KEYS
    assert (result["update"][0]["price"], result["update"][0]["stock_quantity"]) == ("25.00", 12)
    assert result["update"][1] == {
        "id": 999999,
        "error": {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 400}},
    }
    assert result["delete"] == [
        {"id": 999998, "error": {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 404}}}
    ]
    deleted = woo.post(f"{API}/products/batch", json={"delete": [455]}).json()
    assert deleted["delete"][0]["id"] == 455 and woo.get(f"{API}/products/455").status_code == 404  # always forced


def test_capture_12_batch_over_the_limit(woo: httpx.Client) -> None:
    creates = [{"name": f"CAP too many {i}", "sku": f"CAP-C-X{i:03d}", "regular_price": "1.00"} for i in range(101)]
    response = woo.post(f"{API}/products/batch", json={"create": creates})
    assert response.status_code == 413
    assert response.json() == {
        "code": "woocommerce_rest_request_entity_too_large",
        "message": "Unable to accept more than 100 items for this request.",
        "data": {"status": 413},
    }
    assert woo.get("/__sim__/products").json() == []
    woo.put("/__sim__/config", json={"batch_limit": 2})
    small = woo.post(f"{API}/products/batch", json={"create": creates[:2], "delete": [1]})
    assert small.json()["message"] == "Unable to accept more than 2 items for this request."


# ------------------------------------------------------------------ variations and lookups (13-28)


def test_capture_20_sku_list_returns_products_and_variations(woo: httpx.Client, https_server: ServerThread) -> None:
    create_widget(woo)
    parent, batch = create_tshirt_with_variations(woo)
    pid = parent["id"]
    assert [v["id"] for v in batch["create"]] == [pid + 1, pid + 2, pid + 3, 0]
    assert batch["create"][3]["error"]["data"] == {"status": 400, "resource_id": 452, "unique_sku": "CAP-C-1001-1"}
    assert batch["create"][0]["name"] == "Red, M" and batch["create"][0]["tax_class"] == "parent"
    response = woo.get(f"{API}/products", params={"sku": "CAP-C-1001,CAP-C-TSHIRT-RED-M,CAP-C-NOPE"})
    assert response.headers["x-wp-total"] == "2"
    variation, simple = response.json()
    base = https_server.base_url
    assert (variation["id"], variation["type"], variation["parent_id"]) == (pid + 1, "variation", pid)
    assert variation["name"] == "CAP Capture T-Shirt - Red, M" and variation["slug"] == "cap-capture-t-shirt-red-m"
    assert variation["permalink"] == f"{base}/?post_type=product&p={pid}&attribute_color=Red&attribute_size=M"
    assert (variation["categories"], variation["total_sales"], variation["reviews_allowed"]) == ([], "0", False)
    assert simple["id"] == 452
    spaced = woo.get(f"{API}/products", params={"sku": "CAP-C-1001, CAP-C-TSHIRT-RED-M"}).json()
    assert [p["id"] for p in spaced] == [452]  # pieces are not trimmed
    assert woo.get(f"{API}/products/{pid + 1}").json()["type"] == "variation"  # capture 21
    refused = woo.put(f"{API}/products/{pid + 1}", json={"regular_price": "1"})
    assert (refused.status_code, refused.json()["code"]) == (404, "woocommerce_rest_invalid_product_id")
    got = woo.get(f"{API}/products/{pid}").json()  # capture 18
    assert (got["price"], got["regular_price"], got["stock_status"]) == ("19.00", "", "instock")
    assert got["variations"] == [pid + 1, pid + 2, pid + 3]
    assert [p["id"] for p in woo.get(f"{API}/products").json()] == [pid, 452]  # parents only


def test_variation_endpoints(woo: httpx.Client) -> None:
    create_widget(woo)  # holds CAP-C-1001, so the 4th variation of the batch fails
    parent, batch = create_tshirt_with_variations(woo)
    red_m, red_l, blue_m = (v["id"] for v in batch["create"][:3])
    base = f"{API}/products/{parent['id']}/variations"
    created = woo.post(base, json=variation_body("CAP-C-TSHIRT-BLU-L", "21.00", 1, "Blue", "L"))
    assert created.status_code == 201 and created.json()["name"] == "Blue, L"
    listed = woo.get(base, params={"per_page": 100})
    assert [v["id"] for v in listed.json()] == [created.json()["id"], blue_m, red_l, red_m]  # newest first
    assert listed.headers["x-wp-total"] == "4" and listed.json()[0]["tax_class"] == ""  # view: the parent's class
    body = {"regular_price": "18.50", "stock_quantity": 4, "attributes": [{"name": "Nope", "option": "x"}]}
    updated = woo.put(f"{base}/{red_m}", json=body).json()
    assert (updated["price"], updated["attributes"]) == ("18.50", [])  # unknown attribute dropped
    assert woo.get(f"{base}/999996").json() == {
        "code": "woocommerce_rest_product_variation_invalid_id",
        "message": "Invalid ID.",
        "data": {"status": 404},
    }
    changes = {"update": [{"id": red_l, "stock_quantity": 3}, {"id": 999997}], "delete": [blue_m, 999995]}
    result = woo.post(f"{base}/batch", json=changes).json()
    assert result["update"][1]["error"]["data"] == {"status": 404}
    assert result["delete"][0]["id"] == blue_m and "targetHints" not in result["delete"][0]["_links"]["self"][0]
    assert result["delete"][1]["id"] == {"id": 999995, "product_id": parent["id"], "force": True}
    assert woo.get(f"{API}/products/{parent['id']}").json()["price"] == "18.50"


def test_capture_24_paging_headers_keep_the_query(woo: httpx.Client, https_server: ServerThread) -> None:
    for number in range(3):
        create_widget(woo, sku=f"CAP-C-{number}", name=f"P{number}")
    query = [("per_page", "1"), ("page", "2"), ("search_sku", "CAP-C-"), ("_fields", "id,sku,date_modified_gmt")]
    response = woo.get(f"{API}/products", params=query)
    url = f"{https_server.base_url}{API}/products"
    fields = "search_sku=CAP-C-&_fields=id%2Csku%2Cdate_modified_gmt"
    assert response.headers["link"] == (
        f'<{url}?per_page=1&page=1&{fields}>; rel="prev", <{url}?per_page=1&page=3&{fields}>; rel="next"'
    )
    assert (response.headers["x-wp-total"], response.headers["x-wp-totalpages"]) == ("3", "3")
    assert [list(item) for item in response.json()] == [["id", "sku", "date_modified_gmt"]]
    assert response.json()[0]["id"] == 453  # date desc, id tiebreak
    past = woo.get(f"{API}/products", params={"per_page": 2, "page": 9})
    assert past.json() == [] and past.headers["x-wp-total"] == "3"


def test_capture_25_per_page_over_100(woo: httpx.Client) -> None:
    response = woo.get(f"{API}/products", params={"per_page": 101})
    message = "per_page must be between 1 (inclusive) and 100 (inclusive)"
    assert response.status_code == 400
    assert response.json() == {
        "code": "rest_invalid_param",
        "message": "Invalid parameter(s): per_page",
        "data": {
            "status": 400,
            "params": {"per_page": message},
            "details": {"per_page": {"code": "rest_out_of_bounds", "message": message, "data": None}},
        },
    }


def test_captures_26_27_28_missing_ids(woo: httpx.Client) -> None:
    def error(status: int) -> dict[str, Any]:
        return {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": status}}

    got, put = woo.get(f"{API}/products/999999"), woo.put(f"{API}/products/999999", json={"regular_price": "1.00"})
    deleted = woo.delete(f"{API}/products/999999", params={"force": "true"})
    assert (got.status_code, got.json()) == (404, error(404))
    assert (put.status_code, put.json()) == (400, error(400))
    assert (deleted.status_code, deleted.json()) == (404, error(404))


def test_capture_43_trashed_sku_blocks_create(woo: httpx.Client) -> None:
    trash = create_widget(woo, name="CAP Capture Trash", sku="CAP-C-TRASH")
    trashed = woo.delete(f"{API}/products/{trash['id']}")
    assert trashed.status_code == 200 and trashed.json()["status"] == "draft"  # shown as it was
    assert woo.get(f"{API}/products", params={"sku": "CAP-C-TRASH"}).json() == []  # capture 42
    assert len(woo.get(f"{API}/products", params={"sku": "CAP-C-TRASH", "status": "trash"}).json()) == 1
    again = woo.post(f"{API}/products", json={"name": "CAP Capture Trash again", "sku": "CAP-C-TRASH", "status": "draft"})
    assert again.status_code == 400
    assert again.json() == {
        "code": "woocommerce_rest_product_not_created",
        "message": "The product with SKU (CAP-C-TRASH) you are trying to insert is already present in the lookup table",
        "data": {"status": 400},
    }
    twice = woo.delete(f"{API}/products/{trash['id']}")
    assert (twice.status_code, twice.json()["code"]) == (410, "woocommerce_rest_already_trashed")
    forced = woo.delete(f"{API}/products/{trash['id']}", params={"force": "true"}).json()
    assert (forced["status"], forced["slug"]) == ("trash", "__trashed")
    assert [m["key"] for m in forced["meta_data"]][-3:] == ["_wp_trash_meta_status", "_wp_trash_meta_time", "_wp_desired_post_slug"]
    assert woo.post(f"{API}/products", json={"name": "now free", "sku": "CAP-C-TRASH"}).status_code == 201


def test_capture_48_settings(woo: httpx.Client, https_server: ServerThread) -> None:
    response = woo.get(f"{API}/settings/products/woocommerce_weight_unit")
    href = f"{https_server.base_url}{API}/settings/products"
    tip = "This controls what unit you will define weights in."
    assert response.json() == {
        "id": "woocommerce_weight_unit", "label": "Weight unit", "description": tip, "type": "select",
        "default": "lbs", "options": {"kg": "kg", "g": "g", "lbs": "lbs", "oz": "oz"}, "tip": tip,
        "value": "lbs", "group_id": "products",
        "_links": {
            "self": [{"href": f"{href}/woocommerce_weight_unit", "targetHints": {"allow": ["GET", "POST", "PUT", "PATCH"]}}],
            "collection": [{"href": href}],
        },
    }  # fmt: skip
    values = {s["id"]: s["value"] for s in woo.get(f"{API}/settings/products").json()}
    assert values == {"woocommerce_weight_unit": "lbs", "woocommerce_dimension_unit": "in", "woocommerce_manage_stock": "yes"}


# ------------------------------------------------------------------ authentication


def test_captures_29_30_query_string_keys_over_https(https_server: ServerThread) -> None:
    fresh(https_server)
    url = f"{https_server.base_url}{API}/products"
    wrong = httpx.get(url, params={"consumer_key": CK, "consumer_secret": "cs_wrong"}, verify=False)
    assert (wrong.status_code, wrong.json()) == (
        401,
        {"code": "woocommerce_rest_authentication_error", "message": "Consumer secret is invalid.", "data": {"status": 401}},
    )
    unknown = httpx.get(url, params={"consumer_key": "ck_unknown", "consumer_secret": "cs_whatever"}, verify=False)
    assert (unknown.status_code, unknown.json()) == (
        401,
        {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 401}},
    )
    assert httpx.get(url, params={"consumer_key": CK, "consumer_secret": CS}, verify=False).status_code == 200


def test_basic_auth_over_https_and_application_passwords(https_server: ServerThread) -> None:
    fresh(https_server)
    url = f"{https_server.base_url}{API}/products"
    assert httpx.get(url, auth=(CK, CS), verify=False).status_code == 200
    assert httpx.get(url, auth=(CK, "nope"), verify=False).json()["message"] == "Consumer secret is invalid."
    assert httpx.get(url, auth=(APP_USER, APP_PASSWORD.replace(" ", "")), verify=False).status_code == 200  # capture 57
    create = httpx.post(url, auth=(CK, CS), json={"name": "x"}, verify=False)
    assert create.status_code == 201
    anonymous = httpx.post(url, json={"name": "x"}, verify=False)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "woocommerce_rest_cannot_create")


def oauth_signed(method: str, url: str, params: dict[str, str], secret: str, **oauth: str) -> dict[str, str]:
    """Sign like RFC 5849 one-legged OAuth, written here independently of the simulator."""

    def enc(text: str) -> str:
        return quote(text, safe="-_.~")

    values = {
        "oauth_consumer_key": CK,
        "oauth_nonce": uuid.uuid4().hex,
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_timestamp": str(int(time.time())),
        **oauth,
    }
    everything = {**params, **values}
    pairs = sorted((enc(k), enc(v)) for k, v in everything.items())
    base = "&".join([method, enc(url), enc("&".join(f"{k}={v}" for k, v in pairs))])
    algorithm = hashlib.sha1 if values["oauth_signature_method"] == "HMAC-SHA1" else hashlib.sha256
    digest = hmac.new(f"{secret}&".encode(), base.encode(), algorithm).digest()
    return {**everything, "oauth_signature": base64.b64encode(digest).decode()}


def test_oauth_over_http_with_the_service_signer(plain: httpx.Client, http_server: ServerThread) -> None:
    """The service's own OAuth 1.0a signer (oauthlib, query string) against the store's rules,
    with a SKU holding "/" and spaces, which the official Python client gets wrong."""
    from app.integrations.woocommerce.oauth import OAuth1QueryAuth

    sku = "OA/1 QUERY x"
    auth = OAuth1QueryAuth(CK, CS)
    created = plain.post(f"{API}/products", json={"name": "OAuth / product", "sku": sku}, auth=auth)
    assert created.status_code == 201, created.text
    found = plain.get(f"{API}/products", params={"sku": sku, "search": "OAuth / product"}, auth=auth)
    assert found.status_code == 200 and [p["sku"] for p in found.json()] == [sku]
    bad = plain.get(f"{API}/products", auth=OAuth1QueryAuth(CK, "cs_wrong"))
    assert bad.json()["message"] == "Invalid signature - provided signature does not match."


def test_oauth_checks_signature_timestamp_and_nonce(plain: httpx.Client, http_server: ServerThread) -> None:
    url = f"{http_server.base_url}{API}/products"
    signed = oauth_signed("GET", url, {"sku": "A/B c", "per_page": "5"}, CS)
    assert plain.get(url, params=signed).status_code == 200
    reused = plain.get(url, params=signed).json()
    assert reused["message"] == "Invalid nonce - nonce has already been used."
    forged = {**oauth_signed("GET", url, {}, CS), "oauth_signature": base64.b64encode(b"x" * 32).decode()}
    assert plain.get(url, params=forged).json() == {
        "code": "woocommerce_rest_authentication_error",
        "message": "Invalid signature - provided signature does not match.",
        "data": {"status": 401},
    }
    stale = oauth_signed("GET", url, {}, CS, oauth_timestamp=str(int(time.time()) - 3600))
    assert plain.get(url, params=stale).json()["message"] == "Invalid timestamp."
    unknown = oauth_signed("GET", url, {}, CS, oauth_consumer_key="ck_nobody")
    assert plain.get(url, params=unknown).json()["message"] == "Consumer key is invalid."
    assert plain.get(url, params=oauth_signed("GET", url, {}, CS, oauth_signature_method="HMAC-SHA1")).status_code == 200
    plaintext = oauth_signed("GET", url, {}, CS, oauth_signature_method="PLAINTEXT")
    assert plain.get(url, params=plaintext).json()["message"] == "Invalid signature - signature method is invalid."
    post = oauth_signed("POST", url, {}, CS)  # the JSON body is not part of the signature
    assert plain.post(url, params=post, json={"name": "signed"}).status_code == 201
    missing = plain.get(url, params={"oauth_consumer_key": CK}).json()
    assert missing["code"] == "woocommerce_rest_authentication_missing_parameter"
    assert plain.get(url, auth=(CK, CS)).status_code == 401  # Basic is not WooCommerce auth over HTTP


# ------------------------------------------------------------------ images and media (31-39, 51-56)


def test_image_src_is_downloaded_every_time(woo: httpx.Client, image_server: ServerThread) -> None:
    src = f"{image_server.base_url}/img/cap-red.png"
    body = {"name": "CAP Capture Image Product", "images": [{"src": src, "alt": "Red front", "name": "CAP red"}, {"src": src}]}
    first = woo.post(f"{API}/products", json=body).json()
    assert [i["id"] for i in first["images"]] == [452, 453] and first["id"] == 454  # media first, then the product
    assert first["images"][0]["src"].endswith("/cap-red.png") and first["images"][1]["src"].endswith("/cap-red-1.png")
    assert (first["images"][0]["name"], first["images"][0]["alt"], first["images"][1]["name"]) == ("CAP red", "Red front", "cap-red-1.png")
    assert first["images"][0]["sizes"] == "(max-width: 64px) 100vw, 64px"
    again = woo.put(f"{API}/products/454", json={"images": [{"src": src}]}).json()
    assert again["images"][0]["id"] == 455  # a new media item: duplicates pile up
    served = httpx.get(again["images"][0]["src"], verify=False)
    assert served.content == RED_PNG and served.headers["content-type"] == "image/png"
    by_id = woo.put(f"{API}/products/454", json={"images": [{"id": 453}, {"id": 452, "alt": "edited"}]}).json()
    assert [(i["id"], i["alt"]) for i in by_id["images"]] == [(453, ""), (452, "edited")]
    assert woo.put(f"{API}/products/454", json={"images": []}).json()["images"] == []
    assert woo.get("/__sim__/stats").json()["media_created"] == 3


def test_image_errors(woo: httpx.Client, image_server: ServerThread) -> None:
    create_widget(woo)

    def error_for(image: dict[str, Any]) -> dict[str, Any]:
        response = woo.put(f"{API}/products/452", json={"images": [image]})
        assert response.status_code == 400
        return response.json()

    assert error_for({"id": 999995}) == {
        "code": "woocommerce_product_invalid_image_id",
        "message": "#999995 is an invalid image ID.",
        "data": {"status": 400},
    }
    missing = f"{image_server.base_url}/img/cap-missing.gif"
    assert error_for({"src": missing})["message"] == f"Error getting remote image {missing}. Error: Not Found"
    text = error_for({"src": f"{image_server.base_url}/img/cap-not-image.txt"})
    assert (text["code"], text["message"]) == (
        "woocommerce_product_image_upload_error",
        "Invalid image: Sorry, you are not allowed to upload this file type.",
    )
    unreachable = "http://127.0.0.1:9/zoho/item-1001.png"
    assert error_for({"src": unreachable})["message"] == (
        f"Error getting remote image {unreachable}. Error: A valid URL was not provided."
    )


def test_media_upload_needs_an_application_password(woo: httpx.Client, https_server: ServerThread) -> None:
    url = f"{https_server.base_url}/wp-json/wp/v2/media"
    headers = {"content-type": "image/png", "content-disposition": 'attachment; filename="cap-upload.png"'}

    def upload(auth: tuple[str, str], sent: dict[str, str]) -> httpx.Response:
        return httpx.post(url, content=RED_PNG, headers=sent, auth=auth, verify=False)

    assert upload((CK, CS), headers).json()["code"] == "invalid_username"  # capture 52
    assert upload((APP_USER, "wrong"), headers).json() == {
        "code": "incorrect_password",
        "message": "The provided password is an invalid application password.",
        "data": {"status": 401},
    }
    no_disposition = upload((APP_USER, APP_PASSWORD), {"content-type": "image/png"})
    assert (no_disposition.status_code, no_disposition.json()["code"]) == (400, "rest_upload_no_content_disposition")
    created = upload((APP_USER, APP_PASSWORD), headers)
    media = created.json()
    assert created.status_code == 201 and (media["id"], media["title"]["raw"], media["mime_type"]) == (452, "cap-upload", "image/png")
    assert (media["media_details"]["width"], media["media_details"]["height"], media["filesize"]) == (64, 48, len(RED_PNG))
    assert httpx.get(media["source_url"], verify=False).content == RED_PNG
    product = woo.post(f"{API}/products", json={"name": "with media", "images": [{"id": 452, "alt": "uploaded"}]}).json()
    assert product["images"][0]["src"] == media["source_url"] and product["images"][0]["name"] == "cap-upload"
    library = woo.get("/__sim__/media").json()
    assert library[0]["sha256"] == hashlib.sha256(RED_PNG).hexdigest() and library[0]["alt"] == "uploaded"


def test_media_upload_before_any_application_password() -> None:
    """Capture 51: with no application password on the site, the key is just not a user."""
    server = ServerThread(create_app(StoreState(app_passwords=[]))).start()
    try:
        response = httpx.post(
            f"{server.base_url}/wp-json/wp/v2/media",
            content=RED_PNG,
            headers={"content-type": "image/png", "content-disposition": 'attachment; filename="a.png"'},
            auth=(CK, CS),
        )
        assert response.json() == {
            "code": "rest_cannot_create",
            "message": "Sorry, you are not allowed to create posts as this user.",
            "data": {"status": 401},
        }
    finally:
        server.stop()


# ------------------------------------------------------------------ knobs and stats


def test_injected_429_503_and_fail_next(woo: httpx.Client) -> None:
    woo.put("/__sim__/config", json={"rate_429": 1, "retry_after": 7})
    throttled = woo.get(f"{API}/products")
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "7"
    assert throttled.headers["content-type"].startswith("text/html")
    assert woo.get("/__sim__/config").json()["rate_429"] == 1  # control routes are never throttled
    woo.put("/__sim__/config", json={"rate_429": 0, "rate_5xx": 1})
    unavailable = woo.get(f"{API}/products")
    assert unavailable.status_code == 503 and "<html>" in unavailable.text
    faults = [
        {"status": 502, "body": "<html>bad gateway</html>", "path_contains": "/products/batch"},
        {"status": 500, "body": {"code": "internal_server_error"}, "headers": {"X-Test": "1"}},
    ]
    woo.put("/__sim__/config", json={"rate_5xx": 0, "fail_next": faults})
    second = woo.get(f"{API}/products")  # the first fault waits for its path
    assert (second.status_code, second.json(), second.headers["x-test"]) == (500, {"code": "internal_server_error"}, "1")
    first = woo.post(f"{API}/products/batch", json={})
    assert (first.status_code, first.text) == (502, "<html>bad gateway</html>")
    assert woo.get(f"{API}/products").status_code == 200
    assert woo.put("/__sim__/config", json={"nope": 1}).status_code == 400


async def test_latency_overlaps_between_concurrent_requests(https_server: ServerThread) -> None:
    store = fresh(https_server)
    store.knobs.update({"latency_ms": 200})
    async with httpx.AsyncClient(base_url=https_server.base_url, auth=(CK, CS), verify=False) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(*(client.get(f"{API}/products") for _ in range(5)))
        elapsed = time.perf_counter() - started
        assert all(r.status_code == 200 for r in responses)
        assert 0.2 <= elapsed < 0.8  # five sequential requests would take 1 s
        store.knobs.update({"latency_ms": 0, "per_item_latency_ms": 60})
        started = time.perf_counter()
        batch = await client.post(f"{API}/products/batch", json={"create": [{"name": f"n{i}"} for i in range(3)]})
        assert batch.status_code == 200 and time.perf_counter() - started >= 0.18
    store.knobs = StoreKnobs()


def test_stats_count_routes_and_writes(woo: httpx.Client) -> None:
    create_widget(woo)
    woo.post("/__sim__/stats/reset")
    woo.get(f"{API}/products")
    woo.get(f"{API}/products/999")
    woo.put(f"{API}/products/452", json={"stock_quantity": 3})
    woo.post(f"{API}/products/batch", json={"create": [{"name": "a"}, {"name": "b", "sku": "CAP-C-1001"}], "update": [{"id": 452}]})
    woo.get(f"{API}/settings/products/woocommerce_manage_stock")
    woo.get(f"{API}/products/452/variations")
    httpx.post(
        f"{woo.base_url}/wp-json/wp/v2/media",
        content=RED_PNG,
        headers={"content-type": "image/png", "content-disposition": 'attachment; filename="s.png"'},
        auth=(APP_USER, APP_PASSWORD),
        verify=False,
    )
    stats = woo.get("/__sim__/stats").json()
    assert stats == {
        "requests": {
            "GET /products": 1,
            "GET /products/{id}": 1,
            "PUT /products/{id}": 1,
            "POST /products/batch": 1,
            "GET /settings/products/{id}": 1,
            "GET /products/{product_id}/variations": 1,
            "POST /wp/v2/media": 1,
        },
        "objects_written": 3,  # the update, one batch create, one batch update
        "media_created": 1,
        "uploads_peak": 1,
    }
    assert [p["sku"] for p in woo.get("/__sim__/products", params={"sku": "cap-c-1001"}).json()] == ["CAP-C-1001"]
    woo.post("/__sim__/reset")
    assert woo.get("/__sim__/products").json() == [] and woo.get("/__sim__/stats").json()["requests"] == {}


# ------------------------------------------------------------------ the whole recorded session


def test_every_capture_replayed_in_order(tmp_path: Path) -> None:
    """Replay captures 01-57 against a fresh store and compare full bodies and headers.

    Ignored: dates, meta ids (the real store spaces them out), the trash timestamp and the
    uploaded file's size (the fixture PNG differs). 46/47 (OPTIONS) and 51 (another store
    state) are not replayed.
    """
    assert CAPTURES.is_dir(), f"the WooCommerce captures are missing from {CAPTURES}"
    fixtures = {"cap-red.png": make_png(rgb=(255, 0, 0)), "cap-green.png": make_png(rgb=(0, 255, 0)),
                "cap-blue.png": make_png(rgb=(0, 0, 255)), "cap-not-image.txt": b"hello"}  # fmt: skip

    async def fetch(url: str) -> httpx.Response:
        if "images.example.net" in url:
            raise httpx.ConnectError("not allowed")
        name = url.rsplit("/", 1)[-1]
        return httpx.Response(200, content=fixtures[name]) if name in fixtures else httpx.Response(404)

    store = StoreState(site_url="https://shop.example.com", app_passwords=[(APP_USER, APP_PASSWORD)])
    certfile, keyfile = make_self_signed_cert(tmp_path)
    server = ServerThread(create_app(store, fetch=fetch), ssl_certfile=certfile, ssl_keyfile=keyfile).start()
    try:
        with httpx.Client(base_url=server.base_url, auth=(CK, CS), verify=False, timeout=10) as client:
            mismatches = _replay_session(client)
    finally:
        server.stop()
    assert mismatches == []


def _capture(number: str) -> dict[str, Any]:
    return json.loads(Path(glob.glob(str(CAPTURES / f"{number}-*.json"))[0]).read_text())


def _replay_session(client: httpx.Client) -> list[str]:
    mismatches: list[str] = []
    upload = {"content-type": "image/png", "content-disposition": 'attachment; filename="cap-upload.png"'}
    for number in [f"{n:02d}" for n in range(1, 58) if n not in (46, 47, 51)]:
        capture = _capture(number)
        request, expected = capture["request"], capture["response"]
        if number == "41":  # the product trashed in 41 was made outside the captures
            client.post(f"{API}/products", json={"name": "CAP Capture Trash", "sku": "CAP-C-TRASH", "status": "draft", "regular_price": "3.00"})
        if number in ("52", "53", "54", "55"):
            auth = {"52": (CK, CS), "53": (APP_USER, "wrong")}.get(number, (APP_USER, APP_PASSWORD))
            headers = {"content-type": "image/png"} if number == "54" else upload
            response = client.post(request["path"], content=make_png(), headers=headers, auth=auth)
        else:
            response = _send(client, number, request)
        if response.status_code != expected["status"]:
            mismatches.append(f"{number}: status {response.status_code} != {expected['status']}")
        for header in ("content-type", "x-wp-total", "x-wp-totalpages", "link"):
            if expected["headers"].get(header) != response.headers.get(header):
                mismatches.append(f"{number}: header {header}")
        mismatches += [f"{number}: {m}" for m in _differences(expected["body"], response.json())]
    return mismatches


def _send(client: httpx.Client, number: str, request: dict[str, Any]) -> httpx.Response:
    body, query, auth = request["body"], dict(request["query"]), httpx.USE_CLIENT_DEFAULT
    if number == "12":
        body = {"create": [{"name": f"CAP too many {i}", "sku": f"CAP-C-X{i:03d}", "regular_price": "1.00"} for i in range(101)]}
    if number in ("29", "30"):
        query["consumer_key"] = CK if number == "29" else query["consumer_key"]
        auth = None
    if number == "57":
        auth = (APP_USER, APP_PASSWORD)
    return client.request(request["method"], request["path"], params=list(query.items()) or None, json=body, auth=auth)


_IGNORED = {"date_created", "date_created_gmt", "date_modified", "date_modified_gmt", "date", "date_gmt", "modified", "modified_gmt"}


def _differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        if list(expected) != list(actual):
            return [f"{path} keys {list(expected)} != {list(actual)}"]
        found = []
        for key, value in expected.items():
            if key in _IGNORED or key == "filesize" or (key == "id" and re.search(r"meta_data\[\d+\]$", path)):
                continue
            if key == "value" and isinstance(value, str) and value.isdigit() and len(value) == 10:
                continue  # _wp_trash_meta_time
            found += _differences(value, actual[key], f"{path}.{key}")
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path} length {len(expected)} != {len(actual)}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual, strict=False)) for d in _differences(e, a, f"{path}[{i}]")]
    if isinstance(expected, str) and isinstance(actual, str):
        expected, actual = _upload_shape(expected), _upload_shape(actual)
    return [] if expected == actual else [f"{path}: {expected!r} != {actual!r}"]


def _upload_shape(value: str) -> str:
    """Uploads live under the month they were made in (`2026/11/cap-red.png`): compare the
    path's shape, not the calendar the captures were recorded in."""
    return re.sub(r"(^|/)\d{4}/\d{2}/", r"\1YYYY/MM/", value)
