"""The optimised images this service hands the store by URL (upload mode `src`).

Public, like any image on a shop: the store downloads from here without credentials. A file is
served only while the store may still need it; once the store reports its media id, the bytes
are dropped and the URL answers 404.
"""

import re
import uuid

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select

from app.api.deps import Session
from app.core.errors import NotFound
from app.models import MediaAsset

router = APIRouter(tags=["images"])
_NAME = re.compile(r"^([0-9a-f]{64})\.(jpg|png|webp)$")


@router.get("/media/{connection_id}/{filename}", include_in_schema=False)
async def serve_image(connection_id: uuid.UUID, filename: str, session: Session) -> Response:
    match = _NAME.match(filename)
    if match is None:
        raise NotFound("no such image")
    row = (await session.execute(select(MediaAsset.data, MediaAsset.content_type).where(
        MediaAsset.connection_id == connection_id, MediaAsset.content_sha256 == match.group(1)))).first()
    if row is None or row.data is None:
        raise NotFound("no such image")
    return Response(row.data, media_type=row.content_type, headers={"Cache-Control": "public, max-age=86400"})
