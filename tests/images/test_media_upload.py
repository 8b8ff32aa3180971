"""WordPress media uploads against the WooCommerce simulator over real HTTP."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from app.integrations.metrics import VENDOR_REQUESTS
from app.integrations.woocommerce.errors import (
    WooAuthError,
    WooRequestError,
    WooUnavailable,
)
from app.integrations.woocommerce.media import ENDPOINT, WordPressMedia, safe_filename
from simulators.woocommerce.state import DEMO_APP_PASSWORD

USER, PASSWORD = DEMO_APP_PASSWORD


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def media_client(woo_server, *, password: str = PASSWORD, max_attempts: int = 4) -> WordPressMedia:
    return WordPressMedia(base_url=woo_server.base_url, username=USER, application_password=password,
                          max_attempts=max_attempts, backoff_cap=0.01)


def sent(status: str) -> float:
    return VENDOR_REQUESTS.labels("woocommerce", ENDPOINT, status)._value.get()


async def test_upload_returns_the_new_attachment_id(woo_server, store) -> None:
    data = jpeg()
    before = sent("201")
    async with media_client(woo_server) as media:
        attachment_id = await media.upload(data, filename="Crème brûlée/front view.jpg", content_type="image/jpeg")
    item = store.media[attachment_id]
    assert (item.data, item.mime_type) == (data, "image/jpeg")
    assert item.file.endswith("/Creme-brulee-front-view.jpg")
    assert store.stats()["media_created"] == 1 and sent("201") == before + 1


async def test_wrong_application_password_is_an_auth_error(woo_server, store) -> None:
    async with media_client(woo_server, password="wrong wrong wrong") as media:
        with pytest.raises(WooAuthError) as caught:
            await media.upload(jpeg(), filename="a.jpg", content_type="image/jpeg")
    assert caught.value.status == 401 and caught.value.code == "incorrect_password"
    assert str(caught.value) == "incorrect_password: The provided password is an invalid application password."
    assert store.stats()["requests"] == {"POST /wp/v2/media": 1}  # not retried


async def test_plain_http_without_a_local_environment_is_refused(woo_server, store, monkeypatch) -> None:
    """What a production WordPress does with Basic application passwords over http: ignores them."""
    monkeypatch.setattr(store, "app_passwords_over_http", False)
    async with media_client(woo_server) as media:
        with pytest.raises(WooAuthError, match="rest_cannot_create"):
            await media.upload(jpeg(), filename="a.jpg", content_type="image/jpeg")


async def test_a_refused_file_is_a_request_error_and_not_retried(woo_server, store) -> None:
    async with media_client(woo_server) as media:
        with pytest.raises(WooRequestError) as caught:
            await media.upload(b"hello, not an image", filename="a.jpg", content_type="image/jpeg")
    assert (caught.value.status, caught.value.code) == (500, "rest_upload_sideload_error")
    assert "not allowed to upload this file type" in caught.value.message
    assert store.stats()["requests"] == {"POST /wp/v2/media": 1}


async def test_429_and_5xx_are_retried_then_given_up(woo_server, store) -> None:
    store.knobs.update({"fail_next": [{"status": 503, "body": "<html>busy</html>"},
                                      {"status": 429, "headers": {"Retry-After": "0"}}]})
    async with media_client(woo_server) as media:
        attachment_id = await media.upload(jpeg(), filename="retry.jpg", content_type="image/jpeg")
    assert attachment_id in store.media and store.stats()["requests"] == {"POST /wp/v2/media": 3}
    store.knobs.update({"fail_next": [{"status": 502, "body": "<html>bad gateway</html>"}] * 2})
    async with media_client(woo_server, max_attempts=2) as media:
        with pytest.raises(WooUnavailable, match="after 2 attempts .*HTTP 502"):
            await media.upload(jpeg(), filename="gone.jpg", content_type="image/jpeg")
    assert store.stats()["media_created"] == 1


async def test_network_errors_are_retried_and_an_answer_without_an_id_refused() -> None:
    answers = [httpx.ConnectError("refused"), httpx.Response(201, text="<html>a cache page</html>")]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["content-disposition"] == 'attachment; filename="a.jpg"'
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with WordPressMedia(base_url="https://shop.test/", username=USER, application_password=PASSWORD,
                              backoff_cap=0.01, transport=httpx.MockTransport(handler)) as media:
        with pytest.raises(WooRequestError, match="without an attachment id"):
            await media.upload(b"x", filename="a.jpg", content_type="image/jpeg")
    assert answers == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.jpg", "photo.jpg"),
        ("Crème brûlée.PNG", "Creme-brulee.PNG"),
        ('we"ird;name\r\n.webp', "we-ird-name.webp"),
        ("../../etc/passwd", "etc-passwd"),
        ("商品.jpg", "image.jpg"),
        ("", "image"),
        ("x" * 300 + ".jpeg", "x" * 95 + ".jpeg"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected
