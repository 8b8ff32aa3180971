"""Item image bytes as Zoho serves them (`GET /items/{item_id}/image`): read within a size
limit, named and typed from the response headers."""

from __future__ import annotations

import email.message
import mimetypes

import httpx

from app.catalog.types import DownloadedImage
from app.integrations.zoho.errors import ZohoImageUnavailable

MAX_IMAGE_BYTES = 20 * 1024 * 1024




async def read_image(response: httpx.Response, *, item_id: str, max_bytes: int) -> DownloadedImage:
    """The body of a streamed 2xx image response, read inside the call's budget slot (see
    ZohoClient.download_item_image), refused as soon as it passes `max_bytes`
    (announced in Content-Length or actually sent) and when it is empty.

    Anything else that is not a valid image (text, a truncated file) is passed on as it came:
    the optimiser is what tells images apart and says why one is refused.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ZohoImageUnavailable(f"the image is {int(declared)} bytes, over the limit of {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    # A transport error mid-body goes up as it is: the client's one retry loop tries the whole
    # call again, inside the budget, like any other call that broke off.
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ZohoImageUnavailable(f"the image is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    if not size:
        raise ZohoImageUnavailable("Zoho sent an empty image (0 bytes)")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    content_type = content_type or "application/octet-stream"
    return DownloadedImage(b"".join(chunks), content_type, _filename(response, item_id, content_type))


def _filename(response: httpx.Response, item_id: str, content_type: str) -> str:
    """Content-Disposition's file name (RFC 2231 included), else one made from the item id."""
    header = email.message.Message()
    header["content-disposition"] = response.headers.get("content-disposition", "")
    return header.get_filename() or f"item-{item_id}{mimetypes.guess_extension(content_type) or ''}"
