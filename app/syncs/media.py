"""Image keys in drafts → the store's media ids.

A draft names images by their Zoho identity (`ImageRef.key`). Before a write, the keys already
known are swapped for media ids; a key whose image could not be used (a corrupt file, say) is
left out; a key not seen yet leaves the draft without images and marks the item for the image
step, which runs after every product of the run is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.core.context import AppContext
from app.models import ImageSource, MediaAsset


@dataclass(frozen=True, slots=True)
class Unusable:
    """An image identity known to be unusable (a corrupt file, say), and why: written as "no image"."""

    reason: str


Known = dict[str, "int | Unusable"]


def draft_image_keys(draft: dict[str, Any]) -> list[str]:
    keys = list(draft.get("images") or [])
    if draft.get("image"):
        keys.append(draft["image"])
    return [k for k in keys if isinstance(k, str)]


async def media_for(ctx: AppContext, connection_id: uuid.UUID, drafts: Iterable[dict[str, Any]]) -> Known:
    """The known image keys of these drafts (run items' fields to write) → media id, or Unusable
    with its reason. Keys not seen yet are absent."""
    keys = {k for draft in drafts for k in draft_image_keys(draft)}
    if not keys:
        return {}
    async with ctx.sessionmaker() as session:
        rows = await session.execute(
            select(ImageSource.image_key, ImageSource.error, MediaAsset.media_id)
            .outerjoin(MediaAsset, (MediaAsset.connection_id == ImageSource.connection_id)
                       & (MediaAsset.content_sha256 == ImageSource.content_sha256))
            .where(ImageSource.connection_id == connection_id, ImageSource.image_key.in_(keys)))
        known: Known = {}
        for key, error, media_id in rows:
            if error is not None:
                known[key] = Unusable(error)
            elif media_id is not None:
                known[key] = int(media_id)
        return known


def with_media(draft: dict[str, Any], media: Known) -> tuple[dict[str, Any], bool]:
    """The draft to write now, and whether images must wait for the image step."""
    if "images" not in draft and "image" not in draft:
        return draft, False
    keys = draft_image_keys(draft)
    if any(k not in media for k in keys):
        return {k: v for k, v in draft.items() if k not in ("images", "image")}, True
    out = dict(draft)
    if "images" in draft:
        out["images"] = [m for m in (media[k] for k in draft["images"]) if not isinstance(m, Unusable)]
    if "image" in draft:
        image = media.get(draft["image"]) if draft["image"] else None
        out["image"] = None if isinstance(image, Unusable) else image
    return out, False


def with_known_media(draft: dict[str, Any], media: Known) -> dict[str, Any]:
    """Images as the store will hold them, for comparing: known pictures by media id, new ones
    by name (which no store record matches, so a new picture always shows as a change)."""
    def show(key: str) -> Any:
        if key in media:
            return media[key]
        parts = key.split("/")
        return f"new image {parts[2] if len(parts) > 2 else key}"

    out = dict(draft)
    if "images" in draft:
        out["images"] = [show(k) for k in draft["images"] if not isinstance(media.get(k), Unusable)]
    if draft.get("image"):
        out["image"] = None if isinstance(media.get(draft["image"]), Unusable) else show(draft["image"])
    return out
