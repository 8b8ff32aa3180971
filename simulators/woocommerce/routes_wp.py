"""WordPress core routes the sync needs: the REST root, media uploads and the uploads folder.

`POST /wp-json/wp/v2/media` is `WP_REST_Attachments_Controller::create_item`: only a WordPress
user (application password) may upload; WooCommerce keys do not count here (captures 51-55).
A raw body needs `Content-Type` and `Content-Disposition: attachment; filename="x.png"`;
a multipart body needs a `file` part. `?title=` and `?alt_text=` are honoured.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from simulators.woocommerce.errors import WCError
from simulators.woocommerce.httpio import read_incoming, render_context, site_of, wp_response
from simulators.woocommerce.images import UPLOAD_TYPES, UploadRejected, check_upload, image_size
from simulators.woocommerce.render import media_json
from simulators.woocommerce.state import StoreState
from simulators.woocommerce.wp import wc_clean

INVALID_DISPOSITION = (
    "Invalid Content-Disposition supplied. Content-Disposition needs to be formatted as "
    '`attachment; filename="image.png"` or similar.'
)


def build_wp_router(store: StoreState) -> APIRouter:
    router = APIRouter()

    @router.get("/wp-json")
    async def rest_root(request: Request) -> Response:
        site = site_of(store, request)
        body = {
            "name": "Simulated WooCommerce store",
            "description": "",
            "url": site,
            "home": site,
            "namespaces": ["wc/v3", "wp/v2"],
            "authentication": {"application-passwords": {"endpoints": {}}},
            "routes": {},
        }
        return wp_response(store, request, body)

    @router.post("/wp-json/wp/v2/media")
    async def upload_media(request: Request) -> Response:
        with store.uploading():
            if store.knobs.upload_latency_ms > 0:
                await asyncio.sleep(store.knobs.upload_latency_ms / 1000)
            return await _create_media(request)

    async def _create_media(request: Request) -> Response:
        incoming = await read_incoming(request)
        if getattr(request.state, "principal", None) is None:
            raise WCError("rest_cannot_create", "Sorry, you are not allowed to create posts as this user.", 401)
        filename, data, fields = _uploaded_file(request.headers, await request.body())
        try:
            filename, mime = check_upload(filename, data, UPLOAD_TYPES)
        except UploadRejected as exc:
            raise WCError("rest_upload_sideload_error", str(exc), 500) from None
        params = {**fields, **incoming.query}
        title = wc_clean(params["title"]) if params.get("title") else filename.rsplit(".", 1)[0]
        item = store.add_media(
            filename=filename, data=data, mime_type=mime, title=title, site_url=site_of(store, request), size=image_size(data)
        )
        if params.get("alt_text"):
            item.alt = wc_clean(params["alt_text"])
        ctx = render_context(store, request, {}, context="edit")
        location = {"Location": f"{ctx.site}/wp-json/wp/v2/media/{item.id}"}
        return wp_response(store, request, media_json(ctx, item), 201, location)

    @router.get("/wp-json/wp/v2/media/{id:int}")
    async def get_media(request: Request) -> Response:
        item = store.media.get(request.path_params["id"])
        if item is None:
            raise WCError("rest_post_invalid_id", "Invalid post ID.", 404)
        return wp_response(store, request, media_json(render_context(store, request, {}, context="view"), item))

    @router.get("/wp-content/uploads/{path:path}")
    async def uploaded_file(path: str) -> Response:
        item = store.find_media_by_file(path)
        if item is None:
            return Response("<h1>Not Found</h1>", status_code=404, media_type="text/html")
        return Response(item.data, media_type=item.mime_type)

    return router


def _uploaded_file(headers: Any, body: bytes) -> tuple[str, bytes, dict[str, str]]:
    """(file name, bytes, extra form fields) of an upload, with WordPress's checks and errors."""
    content_type = headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return _multipart_file(content_type, body)
    if not body:
        raise WCError("rest_upload_no_data", "No data supplied.", 400)
    if not content_type:
        raise WCError("rest_upload_no_content_type", "No Content-Type supplied.", 400)
    disposition = headers.get("content-disposition")
    if not disposition:
        raise WCError("rest_upload_no_content_disposition", "No Content-Disposition supplied.", 400)
    filename = filename_from_disposition(disposition)
    if not filename:
        raise WCError("rest_upload_invalid_disposition", INVALID_DISPOSITION, 400)
    expected_md5 = headers.get("content-md5")
    if expected_md5 and expected_md5.strip() != hashlib.md5(body).hexdigest():
        raise WCError("rest_upload_hash_mismatch", "Content hash did not match expected.", 412)
    return filename, body, {}


def filename_from_disposition(value: str) -> str | None:
    """`get_filename_from_disposition`: `filename=` only (RFC 5987 `filename*=` is not read)."""
    value = value.strip()
    if ";" not in value:
        return None
    attributes = {}
    for part in value.split(";", 1)[1].split(";"):
        if "=" in part:
            key, _, raw = part.partition("=")
            attributes[key.strip()] = raw.strip()
    filename = attributes.get("filename", "").strip()
    if len(filename) >= 2 and filename.startswith('"') and filename.endswith('"'):
        filename = filename[1:-1]
    return filename or None


def _multipart_file(content_type: str, body: bytes) -> tuple[str, bytes, dict[str, str]]:
    """The `file` part and the text fields of a multipart/form-data upload."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    file_part, fields = None, {}
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        if name == "file" and part.get_filename():
            file_part = part
        elif name:
            fields[str(name)] = part.get_payload(decode=True).decode("utf-8", "replace")
    if file_part is None:
        raise WCError("rest_upload_no_data", "No data supplied.", 400)
    return str(file_part.get_filename()), file_part.get_payload(decode=True) or b"", fields
