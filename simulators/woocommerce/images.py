"""Product images: server-side sideloading of `src` URLs and linking of media ids.

This is `wc_rest_upload_image_from_url` + `set_product_images` / `set_variation_image`:
- `src` is downloaded inside the request (httpx, 30 s) and becomes a NEW media item every time;
- the file name is the URL's basename; its extension must be an allowed image type and the bytes
  must really be an image (a .png holding a JPEG is renamed .jpg, as WordPress does);
- `id` links an existing attachment, which must be an image;
- `alt` / `name` change the media item itself, even if a later image of the request fails.
"""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import httpx

from simulators.woocommerce.errors import WCError
from simulators.woocommerce.records import MediaItem, ProductRecord
from simulators.woocommerce.state import StoreState
from simulators.woocommerce.wp import intval, wc_clean

Fetch = Callable[[str], Awaitable[httpx.Response]]

# wc_rest_allowed_image_mime_types()
IMAGE_TYPES = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "jpe": "image/jpeg", "gif": "image/gif",
    "png": "image/png", "bmp": "image/bmp", "tiff": "image/tiff", "tif": "image/tiff",
    "ico": "image/x-icon", "webp": "image/webp",
}  # fmt: skip
# What /wp/v2/media accepts besides images (a small part of get_allowed_mime_types()).
UPLOAD_TYPES = {**IMAGE_TYPES, "pdf": "application/pdf", "txt": "text/plain", "csv": "text/csv", "avif": "image/avif"}
_EXTENSION_FOR = {"image/jpeg": "jpg", "image/gif": "gif", "image/png": "png", "image/bmp": "bmp",
                  "image/tiff": "tif", "image/x-icon": "ico", "image/webp": "webp"}  # fmt: skip
NOT_ALLOWED = "Sorry, you are not allowed to upload this file type."
EMPTY_FILE = (
    "File is empty. Please upload something more substantial. This error could also be caused by uploads "
    "being disabled in your php.ini or by post_max_size being defined as smaller than upload_max_filesize in php.ini."
)


class UploadRejected(Exception):
    """wp_handle_sideload / wp_handle_upload refused the file; the message is WordPress's."""


async def default_fetch(url: str) -> httpx.Response:
    """`download_url`: a GET that follows redirects (30 s timeout)."""
    async with httpx.AsyncClient(timeout=30.0, follow_redirects=True, verify=False) as client:
        return await client.get(url)


def sniff_image(data: bytes) -> str | None:
    """The real image type of some bytes (what WordPress reads with getimagesize/finfo)."""
    signatures = (
        (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"), (b"BM", "image/bmp"), (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"),
        (b"\x00\x00\x01\x00", "image/x-icon"),
    )  # fmt: skip
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in signatures if data.startswith(magic)), None)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height (PNG/GIF read directly; other formats through Pillow when installed)."""
    if data.startswith(b"\x89PNG") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    try:
        from PIL import Image  # optional: only for JPEG/WebP/... dimensions

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # noqa: BLE001 - unknown or broken image: WordPress just stores no size
        return None


def sanitize_file_name(name: str) -> str:
    """`sanitize_file_name`, reduced: special characters out, whitespace to dashes."""
    name = re.sub(r"[?\[\]/\\=<>:;,'\"&$#*()|~`!{}%+’«»”“\x00]", "", name)
    name = re.sub(r"[\r\n\t -]+", "-", name)
    return name.strip(".-_")


def check_upload(filename: str, data: bytes, allowed: dict[str, str]) -> tuple[str, str]:
    """`wp_check_filetype_and_ext`: (final file name, mime type), or UploadRejected."""
    if not data:
        raise UploadRejected(EMPTY_FILE)
    filename = sanitize_file_name(filename)
    stem, dot, ext = filename.rpartition(".")
    mime = allowed.get(ext.lower()) if dot else None
    if mime is None:
        raise UploadRejected(NOT_ALLOWED)
    if not mime.startswith("image/") or mime == "image/avif":
        return filename, mime
    real = sniff_image(data)
    if real is None or real not in allowed.values():
        raise UploadRejected(NOT_ALLOWED)
    if real != mime:
        # WordPress corrects the extension to the real image type.
        return f"{stem}.{_EXTENSION_FOR[real]}", real
    return filename, mime


async def sideload(store: StoreState, src: str, *, site_url: str, fetch: Fetch) -> MediaItem:
    """Download `src` and store it as a new attachment, or raise UploadRejected carrying the
    message `wc_rest_upload_image_from_url` would return."""
    parts = urlsplit(src)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UploadRejected(f"Invalid URL {src}.")
    try:
        response = await fetch(src)
    except httpx.TimeoutException:
        raise UploadRejected(
            f"Error getting remote image {src}. Error: cURL error 28: Operation timed out after 30000 "
            "milliseconds with 0 bytes received"
        ) from None
    except httpx.HTTPError:
        # wp_safe_remote_get refuses hosts it cannot resolve or may not reach with this message.
        raise UploadRejected(f"Error getting remote image {src}. Error: A valid URL was not provided.") from None
    if response.status_code != 200:
        reason = response.reason_phrase or _phrase(response.status_code)
        raise UploadRejected(f"Error getting remote image {src}. Error: {reason}")
    basename = src.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    try:
        filename, mime = check_upload(basename, response.content, IMAGE_TYPES)
    except UploadRejected as exc:
        raise UploadRejected(f"Invalid image: {exc}") from None
    return store.add_media(
        filename=filename,
        data=response.content,
        mime_type=mime,
        title=None,  # wc_rest_set_uploaded_image_as_attachment: the basename of the stored file
        site_url=site_url,
        size=image_size(response.content),
        source=src,
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return str(status)


async def _attachment_for(
    store: StoreState, image: dict[str, Any], *, kind: str, site_url: str, fetch: Fetch, created: list[int]
) -> int:
    """The media id an image entry stands for, sideloading its `src` when it has no `id`."""
    attachment_id = abs(intval(image.get("id") or 0))
    if attachment_id == 0 and image.get("src"):
        try:
            item = await sideload(store, str(image["src"]), site_url=site_url, fetch=fetch)
        except UploadRejected as exc:
            raise WCError(f"woocommerce_{kind}_image_upload_error", str(exc), 400) from None
        created.append(item.id)
        attachment_id = item.id
    if not store.media_is_image(attachment_id):
        raise WCError(f"woocommerce_{kind}_invalid_image_id", f"#{attachment_id} is an invalid image ID.", 400)
    item = store.media[attachment_id]
    if image.get("alt"):
        item.alt = wc_clean(image["alt"])
    if image.get("name"):
        item.title = str(image["name"])
    return attachment_id


async def attach_product_images(
    store: StoreState, draft: ProductRecord, images: Any, *, site_url: str, fetch: Fetch, created: list[int]
) -> None:
    """`set_product_images`: images[0] is the featured image, the rest the gallery; [] clears."""
    entries = [image for image in images if image] if isinstance(images, list) else []
    ids = []
    for image in entries:
        ids.append(
            await _attachment_for(
                store, image if isinstance(image, dict) else {}, kind="product", site_url=site_url, fetch=fetch, created=created
            )
        )
    draft.image_ids = ids


async def attach_variation_image(
    store: StoreState, draft: ProductRecord, image: Any, *, site_url: str, fetch: Fetch, created: list[int]
) -> None:
    """`set_variation_image`: a single object; anything without id or src clears the image."""
    if not isinstance(image, dict) or not (image.get("id") or image.get("src")):
        draft.image_ids = []
        return
    media_id = await _attachment_for(store, image, kind="variation", site_url=site_url, fetch=fetch, created=created)
    draft.image_ids = [media_id]
