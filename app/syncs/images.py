"""The image step: after a run's products are written, fetch the images not seen before,
optimise them, upload each distinct picture once, and attach them to products and variations.

- An image is downloaded from Zoho only when its identity (item, document id, name, type) is
  new; `image_sources` remembers every identity, with the hash of its optimised file or the
  reason it cannot be used, so an unchanged or broken image is never fetched again.
- `media_assets` maps the optimised file's sha256 to the store's media id: the same picture on
  two products is one media item, and later writes reference it by id.
- Upload modes: `media` posts the file to `/wp/v2/media` with the WordPress application
  password; `src` hands the store a URL under PUBLIC_BASE_URL that this service serves, on the
  first product that shows the picture, and reads the media id from the store's answer.
  `auto` (the default) is `media` when the connection has an application password: the upload
  is ours to time out and retry, and needs no route from the store back to the service.
- Stock and prices never wait for this: it runs after the products, and every download takes
  its turn in the same Zoho budget as everything else.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.catalog.types import ProductWrite, StoreSettings, WriteResult
from app.connections.schemas import ConnectionSettings
from app.connections.clients import wp_media_for
from app.core.context import AppContext
from app.db.session import transaction
from app.images.optimize import ImageRejected, OptimisedImage, optimise
from app.integrations.woocommerce.client import WooClient
from app.integrations.woocommerce.errors import WooError
from app.integrations.woocommerce.media import WordPressMedia
from app.integrations.zoho.client import ZohoClient
from app.integrations.zoho.errors import ZohoImageUnavailable, ZohoQuotaExhausted
from app.logs.service import entry, write_logs
from app.models import Connection, ImageSource, ItemKind, MediaAsset
from app.syncs.media import Known, Unusable, draft_image_keys, media_for, with_media

log = structlog.get_logger(__name__)

IMAGE_CHUNK = 50
DOWNLOADS_IN_FLIGHT = 4
# Decoding and re-encoding is CPU work in a thread, one picture at a time: Zoho's budget lets
# fewer than two images a second through anyway, and one decoded bitmap bounds the memory.
OPTIMISE_IN_FLIGHT = 1
# Formats other than JPEG decode at full size: 40 MP is 160 MB as RGBA, the most one may take.
# (Zoho accepts uploads up to 7 MB, so real product photos stay far below.)
MAX_SOURCE_PIXELS = 40_000_000

_PENDING = text("""
    SELECT i.id, i.kind, i.payload, i.woo_id, i.content_hash, i.sku, i.zoho_item_id, h.woo_id AS parent_woo_id
    FROM sync_run_items i
    LEFT JOIN sync_run_items h ON h.run_id = i.run_id AND h.zoho_item_id = i.parent_key
    WHERE i.run_id = :run_id AND i.image_state = 'pending' AND i.id > :after
    ORDER BY i.id LIMIT :size
""")
_SETTLE = text("""
    UPDATE sync_run_items SET image_state = :state,
           reason = CASE WHEN CAST(:reason AS text) IS NULL THEN reason ELSE CAST(:reason AS text) END
    WHERE id = :id
""")
_LINK_DONE = text("""
    UPDATE product_links SET content_hash = :digest
    WHERE connection_id = :connection_id AND woo_id = :woo_id
""")


async def run_image_step(ctx: AppContext, *, run_id: uuid.UUID, connection: Connection, woo: WooClient,
                         zoho: ZohoClient, store: StoreSettings, settings: ConnectionSettings,
                         keep_going: Callable[[], Awaitable[bool]] | None = None) -> bool:
    """The image step of one run with the connection's WordPress media client, if it has one;
    False when `keep_going` stopped it early."""
    media = wp_media_for(connection, ctx)
    try:
        return await ImageStep(ctx=ctx, run_id=run_id, connection_id=connection.id, woo=woo, zoho=zoho, media=media,
                               store=store, settings=settings, keep_going=keep_going).run()
    finally:
        if media is not None:
            await media.aclose()


@dataclass(slots=True)
class Pending:
    id: int
    kind: str
    payload: dict[str, Any]
    woo_id: int | None
    content_hash: str | None
    sku: str | None
    zoho_item_id: str
    parent_woo_id: int | None


class ImageStep:
    """The image work of one run (manual, webhook or catch-up)."""

    def __init__(self, *, ctx: AppContext, run_id: uuid.UUID, connection_id: uuid.UUID, woo: WooClient,
                 zoho: ZohoClient, media: WordPressMedia | None, store: StoreSettings, settings: ConnectionSettings,
                 keep_going: Callable[[], Awaitable[bool]] | None = None) -> None:
        self.ctx, self.run_id, self.connection_id = ctx, run_id, connection_id
        self.woo, self.zoho, self.media, self.store, self.settings = woo, zoho, media, store, settings
        self.keep_going = keep_going
        self.mode = settings.image_upload if settings.image_upload != "auto" else ("media" if media else "src")
        self._downloads = asyncio.Semaphore(DOWNLOADS_IN_FLIGHT)
        self._cpu = asyncio.Semaphore(OPTIMISE_IN_FLIGHT)
        self.failures: dict[str, str] = {}  # key → why it failed this time (tried again next run)

    async def run(self) -> bool:
        """Work through the run's pending images; False when stopped early (paused, cancelled)."""
        after = 0
        while True:
            if self.keep_going is not None and not await self.keep_going():
                return False
            async with self.ctx.sessionmaker() as session:
                rows = [Pending(**r._mapping) for r in await session.execute(
                    _PENDING, {"run_id": self.run_id, "after": after, "size": IMAGE_CHUNK})]
            if not rows:
                return True
            await self.process(rows)
            after = rows[-1].id

    async def process(self, rows: list[Pending]) -> None:
        self.failures.clear()
        known = await media_for(self.ctx, self.connection_id, (r.payload for r in rows))
        carriers: dict[str, Pending] = {}
        for row in rows:
            for key in draft_image_keys(row.payload["draft"]):
                if key not in known:
                    carriers.setdefault(key, row)
        if carriers:
            # Distinct pictures one at a time per sha (see _ensure_media); downloads overlap.
            sources = await self._sources(carriers)
            await asyncio.gather(*(self._resolve(key, row, sources.get(key)) for key, row in carriers.items()))
            known = await media_for(self.ctx, self.connection_id, (r.payload for r in rows))
        await self._attach(rows, known)

    # --- one image identity --------------------------------------------------------------

    async def _resolve(self, key: str, carrier: Pending, sha: str | None) -> None:
        """Fetch and keep the picture unless its file is already known (`sha`), then upload it."""
        try:
            if sha is None:
                image = await self._fetch(key)
                if image is None:
                    return
                await self._keep_file(key, image)
                sha = image.sha256
            await self._ensure_media(sha, carrier)
        except ZohoQuotaExhausted:
            raise
        except Exception as exc:  # noqa: BLE001 - one picture's trouble is recorded on its items, never the run's
            log.warning("images.failed", key=key, error=str(exc))
            self.failures[key] = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"

    async def _sources(self, keys: Iterable[str]) -> dict[str, str]:
        """The file sha of identities seen before whose upload did not finish (no new download)."""
        async with self.ctx.sessionmaker() as session:
            rows = await session.execute(select(ImageSource.image_key, ImageSource.content_sha256).where(
                ImageSource.connection_id == self.connection_id, ImageSource.image_key.in_(list(keys)),
                ImageSource.content_sha256.is_not(None)))
            return {key: sha for key, sha in rows}

    async def _fetch(self, key: str) -> OptimisedImage | None:
        item_id = key.split("/", 1)[0]
        async with self._downloads:
            try:
                downloaded = await self.zoho.download_item_image(item_id)
            except ZohoImageUnavailable as exc:
                await self._remember(key, error=f"Zoho did not serve the image: {exc.message}")
                return None
        async with self._cpu:
            try:
                return await asyncio.to_thread(optimise, downloaded.data, max_edge=self.settings.image_max_edge,
                                               output=self.settings.image_format, quality=self.settings.image_quality,
                                               max_source_pixels=MAX_SOURCE_PIXELS)
            except ImageRejected as exc:
                await self._remember(key, error=f"image not usable: {exc.reason}")
                return None

    async def _remember(self, key: str, *, error: str) -> None:
        """An identity that cannot be used, and why: it is not fetched again."""
        async with transaction(self.ctx.sessionmaker) as session:
            await session.execute(self._source_row(key, sha=None, error=error))

    async def _keep_file(self, key: str, image: OptimisedImage) -> None:
        """The optimised file, kept until the store has it (and served from here in src mode),
        and the identity it came from."""
        asset = pg_insert(MediaAsset).values(connection_id=self.connection_id, content_sha256=image.sha256,
                                             content_type=image.content_type, data=image.data, width=image.width,
                                             height=image.height)
        async with transaction(self.ctx.sessionmaker) as session:
            await session.execute(asset.on_conflict_do_nothing())
            await session.execute(self._source_row(key, sha=image.sha256, error=None))

    def _source_row(self, key: str, *, sha: str | None, error: str | None) -> Any:
        stmt = pg_insert(ImageSource).values(connection_id=self.connection_id, image_key=key, content_sha256=sha,
                                             error=error)
        return stmt.on_conflict_do_update(index_elements=["connection_id", "image_key"],
                                          set_={"content_sha256": sha, "error": error})

    async def _ensure_media(self, sha: str, carrier: Pending) -> None:
        """Upload `sha` unless the store has it. A per-picture lock makes two runs (a manual one
        and a webhook pass, say) that meet the same new picture upload it once."""
        async with transaction(self.ctx.sessionmaker) as session:
            await session.execute(select(func.pg_advisory_xact_lock(
                func.hashtextextended(f"media:{self.connection_id}:{sha}", 0))))
            asset = await session.get(MediaAsset, (self.connection_id, sha), with_for_update=True)
            if asset is None or asset.media_id is not None:
                return
            if asset.data is None:
                raise RuntimeError(f"image {sha[:12]} has neither a media id nor its file")
            asset.media_id = await self._upload(asset, carrier)
            asset.data = None

    async def _upload(self, asset: MediaAsset, carrier: Pending) -> int:
        extension = asset.content_type.split("/")[-1].replace("jpeg", "jpg")
        if self.mode == "media":
            if self.media is None:
                raise WooError("image_upload is 'media' but the connection has no WordPress application password")
            # Named after the first product that shows it (the store titles the media item so).
            stem = carrier.sku if carrier.sku and not carrier.sku.startswith("zoho-group-") else "zoho"
            return await self.media.upload(asset.data or b"", filename=f"{stem}-{asset.content_sha256[:8]}.{extension}",
                                           content_type=asset.content_type)
        return await self._upload_by_src(asset, carrier, extension)

    async def _upload_by_src(self, asset: MediaAsset, carrier: Pending, extension: str) -> int:
        url = (f"{self.ctx.settings.public_base_url.rstrip('/')}/media/{self.connection_id}/"
               f"{asset.content_sha256}.{extension}")
        if carrier.woo_id is None:
            raise WooError("the product is not in the store yet")
        if carrier.kind == ItemKind.VARIATION:
            record = await self.woo.write_one(
                ProductWrite(carrier.id, {"kind": "variation", "image": {"src": url}}, store_id=carrier.woo_id),
                parent_id=carrier.parent_woo_id, settings=self.store)
            media_id = (record.get("image") or {}).get("id")
        else:
            record = await self.woo.write_one(ProductWrite(carrier.id, {"images": [{"src": url}]},
                                                           store_id=carrier.woo_id),
                                              parent_id=None, settings=self.store)
            media_id = ((record.get("images") or [{}])[0]).get("id")
        if not media_id:
            raise WooError(f"the store did not report a media id for {url}")
        return int(media_id)

    # --- attaching -----------------------------------------------------------------------

    async def _attach(self, rows: list[Pending], known: Known) -> None:
        products: list[ProductWrite] = []
        variations: dict[int, list[ProductWrite]] = {}
        settled: dict[int, tuple[str, str | None]] = {}
        by_id = {row.id: row for row in rows}
        for row in rows:
            keys = draft_image_keys(row.payload["draft"])
            failed = [self.failures.get(k) or "not fetched" for k in keys if k not in known]
            if failed:
                settled[row.id] = ("failed", f"images not synced this time: {failed[0]}")
                continue
            draft, _ = with_media(row.payload["draft"], known)
            images = {k: v for k, v in draft.items() if k in ("images", "image")}
            unusable = [m.reason for m in (known[k] for k in keys) if isinstance(m, Unusable)]
            settled[row.id] = ("done", f"synced without an image: {unusable[0]}" if unusable else None)
            if row.woo_id is None:
                settled[row.id] = ("failed", "images not synced: the product is not in the store")
            elif row.kind == ItemKind.VARIATION and row.parent_woo_id:
                variations.setdefault(row.parent_woo_id, []).append(
                    ProductWrite(row.id, {"kind": "variation", **images}, store_id=row.woo_id))
            else:
                products.append(ProductWrite(row.id, images, store_id=row.woo_id))
        results: list[WriteResult] = []
        if products:
            results += await self._guarded(self.woo.batch_products(updates=products, settings=self.store), products)
        for parent_id, writes in variations.items():
            results += await self._guarded(self.woo.batch_variations(parent_id, updates=writes, settings=self.store),
                                           writes)
        for result in results:
            if not result.ok:
                settled[result.key] = ("failed", f"images not synced: {result.error_code}: {result.error_message}")
        await self._settle(settled, by_id)

    async def _guarded(self, call: Awaitable[list[WriteResult]], writes: list[ProductWrite]) -> list[WriteResult]:
        try:
            return await call
        except WooError as exc:
            return [WriteResult(w.key, False, error_code=exc.code or "store_error", error_message=exc.message)
                    for w in writes]

    async def _settle(self, settled: dict[int, tuple[str, str | None]], by_id: dict[int, Pending]) -> None:
        async with transaction(self.ctx.sessionmaker) as session:
            await session.execute(_SETTLE, [{"id": i, "state": s, "reason": r} for i, (s, r) in settled.items()])
            done = [{"connection_id": self.connection_id, "woo_id": by_id[i].woo_id, "digest": by_id[i].content_hash}
                    for i, (state, _) in settled.items() if state == "done" and by_id[i].woo_id]
            if done:
                await session.execute(_LINK_DONE, done)
            logs = [entry(level="warning" if state == "failed" or reason else "info", action="images",
                          status="failed" if state == "failed" else "synced", connection_id=self.connection_id,
                          run_id=self.run_id, sku=by_id[i].sku, zoho_item_id=by_id[i].zoho_item_id,
                          woo_id=by_id[i].woo_id, message=reason or "images attached")
                    for i, (state, reason) in settled.items()]
            await write_logs(session, logs)
