"""Images: downloaded only when their identity changes, uploaded once per picture, bad files
recorded on the item while the product still syncs, and both upload modes work."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.main import create_app
from simulators.server import ServerThread
from tests.catalogue.test_variable_and_images import sync
from tests.helpers import create_connection, run_items, sim, sim_requests, store_by_sku

pytestmark = pytest.mark.timeout(240)
DOWNLOADS = "GET /items/{item_id}/image"


def picture(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48), fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


def items(*ids: str) -> list[dict]:
    return [{"item_id": i, "name": f"Item {i}", "sku": f"IMG-{i}", "rate": 5, "status": "active",
             "stock_on_hand": 3} for i in ids]



async def test_changed_image_costs_one_download_and_one_upload_shared_image_one_media(
        api, zoho, store, zoho_server, woo_server, worker):
    zoho.upsert_items(items("1", "2", "3"))
    zoho.set_image("1", picture((200, 10, 10)), "png")
    zoho.set_image("2", picture((200, 10, 10)), "png")  # the same picture on two products
    zoho.set_image("3", picture((10, 10, 200), fmt="JPEG"), "jpg")
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    await sync(api, conn["id"])
    products = store_by_sku(woo_server.base_url)
    media = sim(woo_server.base_url, "GET", "/media")
    assert len(media) == 2  # two distinct pictures
    assert all(m["file"].split("/")[-1].startswith("IMG-") for m in media)  # named after a product's SKU
    assert products["IMG-1"]["image_ids"] == products["IMG-2"]["image_ids"]
    assert products["IMG-3"]["image_ids"] != products["IMG-1"]["image_ids"]
    assert sim_requests(zoho_server.base_url)[DOWNLOADS] == 3

    sim(zoho_server.base_url, "POST", "/stats/reset")
    sim(woo_server.base_url, "POST", "/stats/reset")
    zoho.set_image("3", picture((10, 200, 10), fmt="JPEG"), "jpg")  # a new picture for one item
    await sync(api, conn["id"])
    assert sim_requests(zoho_server.base_url)[DOWNLOADS] == 1
    assert sim_requests(woo_server.base_url)["POST /wp/v2/media"] == 1
    changed = store_by_sku(woo_server.base_url)["IMG-3"]["image_ids"]
    assert len(changed) == 1 and changed != products["IMG-3"]["image_ids"]
    assert len(sim(woo_server.base_url, "GET", "/media")) == 3

    # The picture removed in Zoho: the product's images are cleared.
    zoho.set_image("3", None)
    await sync(api, conn["id"])
    assert store_by_sku(woo_server.base_url)["IMG-3"]["image_ids"] == []


async def test_bad_images_are_recorded_and_the_products_still_sync(api, zoho, store, zoho_server, woo_server, worker):
    zoho.upsert_items(items("11", "12", "13", "14", "15", "16"))
    good = picture((1, 2, 3))
    zoho.set_image("11", b"", "png")  # zero bytes
    zoho.set_image("12", b"this is not an image at all", "jpg")
    zoho.set_image("13", picture((9, 9, 9), (400, 400), "JPEG")[:300], "jpg")  # truncated
    huge = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(huge, format="PNG")  # 144 MP: refused before decoding
    zoho.set_image("14", huge.getvalue(), "png")
    zoho.set_image("15", good, "png")
    zoho.set_image("16", good, "png")
    zoho.update_knobs({"broken_images": ["16"]})  # listed, but Zoho cannot serve it
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url)
    worker()
    run = await sync(api, conn["id"])
    assert run["synced"] == 6 and run["failed"] == 0
    reasons = {i["zoho_item_id"]: i["error"] or "" for i in await run_items(api, run["id"])}
    for item_id in ("11", "12", "13", "14", "16"):
        assert reasons[item_id].startswith("synced without an image"), reasons
    assert "Zoho did not serve the image" in reasons["16"] or "Zoho sent an empty image" in reasons["11"]
    assert "12000" in reasons["14"].replace(",", "").replace(" ", "") or "pixels" in reasons["14"]
    assert reasons["15"] == ""
    products = store_by_sku(woo_server.base_url)
    assert len(products) == 6 and products["IMG-15"]["image_ids"] and not products["IMG-12"]["image_ids"]

    # A bad picture is not fetched again while it stays the same.
    sim(zoho_server.base_url, "POST", "/stats/reset")
    await sync(api, conn["id"])
    assert sim_requests(zoho_server.base_url)[DOWNLOADS] == 0


async def test_src_mode_hands_the_store_a_url_and_uploads_once(api, zoho, store, zoho_server, woo_server, worker,
                                                                settings, ctx, monkeypatch):
    server = ServerThread(create_app(settings)).start()
    try:
        monkeypatch.setenv("PUBLIC_BASE_URL", server.base_url)
        zoho.upsert_items(items("21", "22"))
        zoho.set_image("21", picture((50, 60, 70)), "png")
        zoho.set_image("22", picture((50, 60, 70)), "png")
        conn = await create_connection(api, zoho_server.base_url, woo_server.base_url,
                                       image_upload="src", image_format="webp")
        worker()
        run = await sync(api, conn["id"])
        assert run["failed"] == 0
        media = sim(woo_server.base_url, "GET", "/media")
        assert len(media) == 1 and media[0]["mime_type"] == "image/webp"
        assert media[0]["source"].startswith(server.base_url + "/media/")
        products = store_by_sku(woo_server.base_url)
        assert products["IMG-21"]["image_ids"] == products["IMG-22"]["image_ids"] == [media[0]["id"]]
        assert sim_requests(woo_server.base_url)["POST /wp/v2/media"] == 0
    finally:
        server.stop()
