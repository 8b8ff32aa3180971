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
- No transaction is open during a download, an upload or a store write: a slow store must not
  hold the pool's connections (the lease heartbeat needs one). A picture is claimed in
  `media_assets` (a token and a lease, committed), uploaded, then recorded only if the claim is
  still ours; a second worker meeting a claimed picture waits for its media id, and a claim
  whose lease lapsed (a dead worker) is taken over. Uploads and store writes share
  `store_concurrency` slots, and `keep_going` is asked before each: a paused or cancelled run
  writes nothing more.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.catalog.types import ProductWrite, StoreSettings, WriteResult, WriteStatus
from app.connections.schemas import ConnectionSettings
from app.core.context import AppContext
from app.core.heartbeat import heartbeat
from app.db.session import rows_touched, transaction
from app.images.optimize import ImageRejected, OptimisedImage, optimise
from app.logs.service import entry, write_logs
from app.models import ImageSource, ItemKind, MediaAsset
from app.ports.bundle import Adapters
from app.ports.catalog import CatalogSource
from app.ports.errors import ImageUnavailable, QuotaExhausted, VendorError
from app.ports.store import MediaLibrary, Store
from app.syncs.media import Known, Unusable, draft_image_keys, media_for, with_media
from app.syncs.plan import load_payload

log = structlog.get_logger(__name__)

IMAGE_CHUNK = 50
DOWNLOADS_IN_FLIGHT = 4
# Decoding and re-encoding is CPU work in a thread, one picture at a time: Zoho's budget lets
# fewer than two images a second through anyway, and one decoded bitmap bounds the memory.
OPTIMISE_IN_FLIGHT = 1
# Formats other than JPEG decode at full size: 40 MP is 160 MB as RGBA, the most one may take.
# (Zoho accepts uploads up to 7 MB, so real product photos stay far below.)
MAX_SOURCE_PIXELS = 40_000_000
# How long a step waits for another worker's upload of a picture before leaving its items to the
# next run. A live uploader renews its claim, and an upload gives up well before this.
CLAIM_WAIT_SECONDS = 900.0

_PENDING = text("""
    SELECT i.id, i.kind, i.payload, i.store_id, i.content_hash, i.sku, i.zoho_item_id,
           coalesce(i.parent_store_id, h.store_id) AS parent_store_id
    FROM sync_run_items i
    LEFT JOIN sync_run_items h ON h.run_id = i.run_id AND h.kind = 'variable' AND h.group_id = i.group_id
                              AND i.kind = 'variation'
    WHERE i.run_id = :run_id AND i.image_state = 'pending' AND i.id > :after
    ORDER BY i.id LIMIT :size
""")
_SETTLE = text("""
    UPDATE sync_run_items SET image_state = :state,
           reason = CASE WHEN CAST(:reason AS text) IS NULL THEN reason ELSE CAST(:reason AS text) END
    WHERE id = :id
""")
# A picture is ours to upload when the store has no media id for it and nobody holds a live claim.
_CLAIM = text("""
    UPDATE media_assets SET claim_token = :token, claimed_at = now()
    WHERE connection_id = :connection_id AND content_sha256 = :sha AND media_id IS NULL AND data IS NOT NULL
      AND (claim_token IS NULL OR claimed_at < now() - make_interval(secs => :lease))
    RETURNING content_type, data
""")
_ASSET_STATE = text("""
    SELECT media_id IS NOT NULL AS uploaded, data IS NOT NULL AS kept FROM media_assets
    WHERE connection_id = :connection_id AND content_sha256 = :sha
""")
_RENEW_CLAIM = text("""
    UPDATE media_assets SET claimed_at = now()
    WHERE connection_id = :connection_id AND content_sha256 = :sha AND claim_token = :token
""")
_RECORD_MEDIA = text("""
    UPDATE media_assets SET media_id = :media_id, data = NULL, claim_token = NULL, claimed_at = NULL
    WHERE connection_id = :connection_id AND content_sha256 = :sha AND claim_token = :token
""")
_RELEASE_CLAIM = text("""
    UPDATE media_assets SET claim_token = NULL, claimed_at = NULL
    WHERE connection_id = :connection_id AND content_sha256 = :sha AND claim_token = :token
""")
_LINK_DONE = text("""
    UPDATE product_links SET content_hash = :digest
    WHERE connection_id = :connection_id AND store_id = :store_id
""")


async def run_image_step(ctx: AppContext, *, run_id: uuid.UUID, connection_id: uuid.UUID, adapters: Adapters,
                         store: StoreSettings, settings: ConnectionSettings,
                         keep_going: Callable[[], Awaitable[bool]] | None = None) -> bool:
    """The image step of one run with the job's adapters (the media library when the store has
    one); False when `keep_going` stopped it early."""
    return await ImageStep(ctx=ctx, run_id=run_id, connection_id=connection_id, store=adapters.store,
                           catalog=adapters.catalog, media=adapters.media, store_settings=store, settings=settings,
                           keep_going=keep_going).run()


class ImageFailure(Exception):
    """One picture could not be put in the store this time; recorded on its items."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(slots=True)
class Pending:
    id: int
    kind: str
    payload: dict[str, Any]
    store_id: int | None
    content_hash: str | None
    sku: str | None
    zoho_item_id: str | None
    parent_store_id: int | None

    @property
    def draft(self) -> dict[str, Any]:
        """The fields it was written with (its payload was read by the processor before: this
        version can read it)."""
        payload = load_payload(self.payload, self.kind)
        return payload.fields if payload is not None else {}


@dataclass(slots=True)
class Claim:
    """A picture this step holds the upload of, with its file (read when it was claimed)."""

    sha: str
    token: str
    content_type: str
    data: bytes


class ImageStep:
    """The image work of one run (manual, webhook or catch-up)."""

    def __init__(self, *, ctx: AppContext, run_id: uuid.UUID, connection_id: uuid.UUID, store: Store,
                 catalog: CatalogSource, media: MediaLibrary | None, store_settings: StoreSettings,
                 settings: ConnectionSettings, keep_going: Callable[[], Awaitable[bool]] | None = None) -> None:
        self.ctx, self.run_id, self.connection_id = ctx, run_id, connection_id
        self.store, self.catalog, self.media = store, catalog, media
        self.store_settings, self.settings = store_settings, settings
        self.keep_going = keep_going
        self.mode = settings.image_upload if settings.image_upload != "auto" else ("media" if media else "src")
        self._downloads = asyncio.Semaphore(DOWNLOADS_IN_FLIGHT)
        self._cpu = asyncio.Semaphore(OPTIMISE_IN_FLIGHT)
        # Uploads and the step's store writes: no more at once than the connection allows.
        self._store_slots = asyncio.Semaphore(settings.store_concurrency)
        self.lease = ctx.settings.lease_seconds
        self.stopped = False  # keep_going said no: nothing more is written
        self.failures: dict[str, str] = {}  # key → why it failed this time (tried again next run)

    async def run(self) -> bool:
        """Work through the run's pending images; False when stopped early (paused, cancelled)."""
        after = 0
        while await self._may_write():
            async with self.ctx.sessionmaker() as session:
                rows = [Pending(**r._mapping) for r in await session.execute(
                    _PENDING, {"run_id": self.run_id, "after": after, "size": IMAGE_CHUNK})]
            if not rows:
                return True
            await self.process(rows)
            after = rows[-1].id
        return False

    async def process(self, rows: list[Pending]) -> None:
        self.failures.clear()
        known = await media_for(self.ctx, self.connection_id, (r.draft for r in rows))
        carriers: dict[str, Pending] = {}
        for row in rows:
            for key in draft_image_keys(row.draft):
                if key not in known:
                    carriers.setdefault(key, row)
        if carriers:
            sources = await self._sources(carriers)
            await asyncio.gather(*(self._resolve(key, row, sources.get(key)) for key, row in carriers.items()))
            if self.stopped:  # the chunk stays pending: a resumed run picks it up again
                return
            known = await media_for(self.ctx, self.connection_id, (r.draft for r in rows))
        await self._attach(rows, known)

    async def _may_write(self) -> bool:
        """Whether the run may still write to the store; once it may not, it never may again."""
        if not self.stopped and self.keep_going is not None and not await self.keep_going():
            self.stopped = True
        return not self.stopped

    # --- one image identity --------------------------------------------------------------

    async def _resolve(self, key: str, carrier: Pending, sha: str | None) -> None:
        """Fetch and keep the picture unless its file is already known (`sha`), then upload it."""
        if self.stopped:  # no download for a run that will not write it
            return
        try:
            if sha is None:
                image = await self._fetch(key)
                if image is None:
                    return
                await self._keep_file(key, image)
                sha = image.sha256
            await self._ensure_media(sha, carrier)
        except QuotaExhausted:
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
            return {key: sha for key, sha in rows if sha is not None}

    async def _fetch(self, key: str) -> OptimisedImage | None:
        item_id = key.split("/", 1)[0]
        async with self._downloads:
            if self.stopped:  # stopped while waiting for a slot: the download can wait for a resume
                return None
            try:
                downloaded = await self.catalog.download_item_image(item_id)
            except ImageUnavailable as exc:
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
        """Upload `sha` unless the store has it. Two runs (a manual one and a webhook pass, say)
        that meet the same new picture upload it once: the second waits for the first's claim."""
        deadline = asyncio.get_running_loop().time() + CLAIM_WAIT_SECONDS
        while True:
            async with self._store_slots:
                if not await self._may_write():
                    return
                claim = await self._claim(sha)
                if isinstance(claim, Claim):
                    await self._upload_claimed(claim, carrier)
                    return
            if claim == "done":
                return
            if asyncio.get_running_loop().time() > deadline:
                raise ImageFailure("another sync is still uploading this picture")
            await asyncio.sleep(min(1.0, self.lease / 4))

    async def _claim(self, sha: str) -> Claim | Literal["done", "busy"]:
        """Take the upload of `sha` (committed before any upload starts), or say why not: the
        store has it ("done"), or another worker's claim is live ("busy")."""
        token = secrets.token_hex(16)
        params = {"connection_id": self.connection_id, "sha": sha}
        async with transaction(self.ctx.sessionmaker) as session:
            row = (await session.execute(_CLAIM, params | {"token": token, "lease": self.lease})).first()
            if row is not None:
                return Claim(sha=sha, token=token, content_type=row.content_type, data=row.data)
            state = (await session.execute(_ASSET_STATE, params)).first()
        if state is None or state.uploaded:
            return "done"
        if not state.kept:
            raise RuntimeError(f"image {sha[:12]} has neither a media id nor its file")
        return "busy"

    async def _upload_claimed(self, claim: Claim, carrier: Pending) -> None:
        """Upload with no transaction open, renewing the claim meanwhile, then record the media
        id only if the claim is still ours."""
        try:
            async with heartbeat(lambda: self._claim_update(_RENEW_CLAIM, claim), every=self.lease / 3,
                                 event="images.claim_renewal_failed", sha=claim.sha):
                media_id = await self._upload(claim, carrier)
        except Exception:
            await self._claim_update(_RELEASE_CLAIM, claim)  # free at once for the next try
            raise
        if not await self._claim_update(_RECORD_MEDIA, claim, media_id=media_id):
            # Our lease lapsed and another worker took the picture over: its media id stands,
            # and this upload stays an unused media item in the store.
            log.warning("images.claim_lost", sha=claim.sha, media_id=media_id)

    async def _claim_update(self, statement: Any, claim: Claim, **values: Any) -> bool:
        """One guarded statement on our claim; False when the claim is no longer ours."""
        params = {"connection_id": self.connection_id, "sha": claim.sha, "token": claim.token, **values}
        async with transaction(self.ctx.sessionmaker) as session:
            result = await session.execute(statement, params)
        return rows_touched(result) > 0

    async def _upload(self, claim: Claim, carrier: Pending) -> int:
        extension = claim.content_type.split("/")[-1].replace("jpeg", "jpg")
        if self.mode == "media":
            if self.media is None:
                raise ImageFailure("image_upload is 'media' but the connection has no WordPress application password")
            # Named after the first product that shows it (the store titles the media item so).
            stem = carrier.sku if carrier.sku and not carrier.sku.startswith("zoho-group-") else "zoho"
            return await self.media.upload(claim.data, filename=f"{stem}-{claim.sha[:8]}.{extension}",
                                           content_type=claim.content_type)
        return await self._upload_by_src(claim.sha, carrier, extension)

    async def _upload_by_src(self, sha: str, carrier: Pending, extension: str) -> int:
        url = f"{self.ctx.settings.public_base_url.rstrip('/')}/media/{self.connection_id}/{sha}.{extension}"
        if carrier.store_id is None:
            raise ImageFailure("the product is not in the store yet")
        variation = carrier.kind == ItemKind.VARIATION
        media_id = await self.store.adopt_image(url, store_id=carrier.store_id, settings=self.store_settings,
                                                parent_id=carrier.parent_store_id if variation else None)
        if not media_id:
            raise ImageFailure(f"the store did not report a media id for {url}")
        return media_id

    # --- attaching -----------------------------------------------------------------------

    async def _attach(self, rows: list[Pending], known: Known) -> None:
        """Write the chunk's images (one batch per parent, in the store's slots) and record each
        item's outcome. Items whose batch a stopped run did not write stay pending."""
        settled, batches = self._attachments(rows, known)
        outcomes = await asyncio.gather(*(self._write(parent_id, writes) for parent_id, writes in batches.items()))
        for (_, writes), results in zip(batches.items(), outcomes, strict=True):
            if results is None:
                for write in writes:
                    del settled[write.key]
                continue
            for result in results:
                if not result.ok:
                    settled[result.key] = ("failed", f"images not synced: {result.error_code}: {result.error_message}")
        await self._settle(settled, {row.id: row for row in rows})

    def _attachments(self, rows: list[Pending], known: Known) -> tuple[
            dict[int, tuple[str, str | None]], dict[int | None, list[ProductWrite]]]:
        """Each item's outcome if its write succeeds, and the writes by parent (None: products)."""
        settled: dict[int, tuple[str, str | None]] = {}
        batches: dict[int | None, list[ProductWrite]] = {}
        for row in rows:
            keys = draft_image_keys(row.draft)
            failed = [self.failures.get(k) or "not fetched" for k in keys if k not in known]
            if failed:
                settled[row.id] = ("failed", f"images not synced this time: {failed[0]}")
                continue
            draft, _ = with_media(row.draft, known)
            images = {k: v for k, v in draft.items() if k in ("images", "image")}
            unusable = [m.reason for m in (known[k] for k in keys) if isinstance(m, Unusable)]
            settled[row.id] = ("done", f"synced without an image: {unusable[0]}" if unusable else None)
            if row.store_id is None:
                settled[row.id] = ("failed", "images not synced: the product is not in the store")
            elif row.kind == ItemKind.VARIATION and row.parent_store_id:
                batches.setdefault(row.parent_store_id, []).append(
                    ProductWrite(row.id, {"kind": "variation", **images}, store_id=row.store_id))
            else:
                batches.setdefault(None, []).append(ProductWrite(row.id, images, store_id=row.store_id))
        return settled, batches

    async def _write(self, parent_id: int | None, writes: list[ProductWrite]) -> list[WriteResult] | None:
        """One batch of image writes (products, or one parent's variations); None when the run
        may no longer write."""
        async with self._store_slots:
            if not await self._may_write():
                return None
            try:
                if parent_id is None:
                    return await self.store.batch_products(updates=writes, settings=self.store_settings)
                return await self.store.batch_variations(parent_id, updates=writes, settings=self.store_settings)
            except VendorError as exc:
                return [WriteResult(w.key, WriteStatus.REFUSED, error_code=exc.code or "store_error",
                                    error_message=exc.message) for w in writes]

    async def _settle(self, settled: dict[int, tuple[str, str | None]], by_id: dict[int, Pending]) -> None:
        if not settled:
            return
        async with transaction(self.ctx.sessionmaker) as session:
            await session.execute(_SETTLE, [{"id": i, "state": s, "reason": r} for i, (s, r) in settled.items()])
            done = [{"connection_id": self.connection_id, "store_id": by_id[i].store_id,
                     "digest": by_id[i].content_hash}
                    for i, (state, _) in settled.items() if state == "done" and by_id[i].store_id]
            if done:
                await session.execute(_LINK_DONE, done)
            logs = [entry(level="warning" if state == "failed" or reason else "info", action="images",
                          status="failed" if state == "failed" else "synced", connection_id=self.connection_id,
                          run_id=self.run_id, sku=by_id[i].sku, zoho_item_id=by_id[i].zoho_item_id,
                          store_id=by_id[i].store_id, message=reason or "images attached")
                    for i, (state, reason) in settled.items()]
            await write_logs(session, logs)
