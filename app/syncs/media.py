"""Image keys in drafts → the store's media ids.

A draft names images by their Zoho identity (`ImageRef.key`). Before a write, the keys already
known are swapped for media ids; a key whose image could not be used (a corrupt file, say) is
left out; a key not seen yet leaves the draft without images and marks the item for the image
step, which runs after every product of the run is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy import select

from app.core.context import AppContext
from app.models import ImageSource, MediaAsset

# A key whose image is known to be unusable: written as "no image".
UNUSABLE = None


class HasPayload(Protocol):
    payload: dict[str, Any] | None


def draft_image_keys(draft: dict[str, Any]) -> list[str]:
    keys = list(draft.get("images") or [])
    if draft.get("image"):
        keys.append(draft["image"])
    return [k for k in keys if isinstance(k, str)]


async def media_for(ctx: AppContext, connection_id: uuid.UUID, items: Iterable[HasPayload]) -> dict[str, int | None]:
    """Known keys of `items`' drafts → media id, or UNUSABLE. Unknown keys are absent."""
    keys = {k for i in items if i.payload for k in draft_image_keys(i.payload.get("draft") or {})}
    if not keys:
        return {}
    async with ctx.sessionmaker() as session:
        rows = await session.execute(
            select(ImageSource.image_key, ImageSource.error, MediaAsset.media_id)
            .outerjoin(MediaAsset, (MediaAsset.connection_id == ImageSource.connection_id)
                       & (MediaAsset.content_sha256 == ImageSource.content_sha256))
            .where(ImageSource.connection_id == connection_id, ImageSource.image_key.in_(keys)))
        known: dict[str, int | None] = {}
        for key, error, media_id in rows:
            if error is not None:
                known[key] = UNUSABLE
            elif media_id is not None:
                known[key] = int(media_id)
        return known


def with_media(draft: dict[str, Any], media: dict[str, int | None]) -> tuple[dict[str, Any], bool]:
    """The draft to write now, and whether images must wait for the image step."""
    if "images" not in draft and "image" not in draft:
        return draft, False
    keys = draft_image_keys(draft)
    if any(k not in media for k in keys):
        return {k: v for k, v in draft.items() if k not in ("images", "image")}, True
    out = dict(draft)
    if "images" in draft:
        out["images"] = [media[k] for k in draft["images"] if media[k] is not UNUSABLE]
    if "image" in draft:
        out["image"] = media.get(draft["image"]) if draft["image"] else None
    return out, False
