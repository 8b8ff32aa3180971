"""The image step against a slow store: no connection stays in a transaction while pictures
upload, uploads stay within store_concurrency, a picture another worker is uploading is waited
for rather than uploaded again, a dead worker's claim is taken over, and a stopped run writes
nothing more."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.connections.adapters import adapters_for
from app.connections.service import connection_settings
from app.core.context import AppContext
from app.db.session import create_sessionmaker, transaction
from app.integrations.woocommerce.media import WordPressMedia
from app.models import Connection
from app.syncs import runner
from app.syncs.images import run_image_step
from simulators.woocommerce.state import DEMO_APP_PASSWORD
from tests.catalogue.test_images import items, picture
from tests.helpers import create_connection, start_run, store_by_sku

pytestmark = pytest.mark.timeout(240)
COLOURS = [(200, 10, 10), (10, 200, 10), (10, 10, 200), (200, 200, 10), (10, 200, 200), (200, 10, 200),
           (120, 60, 30), (30, 60, 120)]
UPLOADS = "POST /wp/v2/media"


def catalogue(zoho, *, products: int = 12) -> list[str]:
    """`products` items showing len(COLOURS) distinct pictures (the first ones again after that)."""
    ids = [str(500 + n) for n in range(products)]
    zoho.upsert_items(items(*ids))
    for n, item_id in enumerate(ids):
        zoho.set_image(item_id, picture(COLOURS[n % len(COLOURS)]), "png")
    return ids


async def products_written(api, ctx: AppContext, connection_id: str, monkeypatch) -> uuid.UUID:
    """A run whose products are in the store and whose images wait for the image step."""
    async def no_images(*args, **kwargs) -> bool:
        return True

    monkeypatch.setattr(runner, "run_image_step", no_images)
    run_id = uuid.UUID((await start_run(api, connection_id))["id"])
    await runner.plan_run(ctx, run_id)
    await runner.drive_run(ctx, run_id)
    assert await image_states(ctx, run_id) == {"pending": 12}
    return run_id


async def image_step(ctx: AppContext, run_id: uuid.UUID, connection_id: str,
                     keep_going: Callable[[], Awaitable[bool]] | None = None) -> bool:
    """The run's image step as a driver runs it, with `ctx`'s pool."""
    async with ctx.sessionmaker() as session:
        connection = await session.get(Connection, uuid.UUID(connection_id))
    async with adapters_for(connection, ctx) as adapters:
        store = await adapters.store.get_store_settings()
        return await run_image_step(ctx, run_id=run_id, connection_id=connection.id, adapters=adapters, store=store,
                                    settings=connection_settings(connection), keep_going=keep_going)


async def image_states(ctx: AppContext, run_id: uuid.UUID) -> dict[str, int]:
    async with ctx.sessionmaker() as session:
        rows = await session.execute(text(
            "SELECT image_state, count(*) FROM sync_run_items WHERE run_id = :id GROUP BY image_state"), {"id": run_id})
        return {state: n for state, n in rows}


async def assets(ctx: AppContext) -> list:
    async with ctx.sessionmaker() as session:
        return (await session.execute(text(
            "SELECT content_sha256, media_id, data IS NOT NULL AS kept, claim_token FROM media_assets"))).all()


@asynccontextmanager
async def small_pool(ctx: AppContext) -> AsyncIterator[AppContext]:
    """The app's context with two connections and a short wait for one: a step that held a
    connection through an upload would starve the rest of it."""
    engine = create_async_engine(ctx.settings.database_url, pool_size=2, max_overflow=0, pool_timeout=2)
    try:
        yield AppContext(settings=ctx.settings, engine=engine, sessionmaker=create_sessionmaker(engine),
                         redis=ctx.redis, owns_redis=False, shared=ctx.shared)
    finally:
        await engine.dispose()


@asynccontextmanager
async def idle_in_transaction(ctx: AppContext, *, longer_than_ms: int) -> AsyncIterator[list]:
    """Every backend of the test database seen idle inside a transaction for longer than
    `longer_than_ms` while the block runs (sampled every 50 ms from a connection of its own)."""
    seen: list = []

    async def sample() -> None:
        async with ctx.engine.connect() as conn:
            while True:
                seen.extend((await conn.execute(text("""
                    SELECT pid, query FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid()
                      AND state = 'idle in transaction'
                      AND state_change < clock_timestamp() - make_interval(secs => :ms / 1000.0)
                """), {"ms": longer_than_ms})).all())
                await conn.commit()
                await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    try:
        yield seen
    finally:
        sampler.cancel()


async def test_slow_uploads_hold_no_connection_and_stay_within_store_concurrency(
        api, ctx, zoho, store, zoho_server, woo_server, monkeypatch):
    catalogue(zoho)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, store_concurrency=2)
    run_id = await products_written(api, ctx, conn["id"], monkeypatch)
    store.reset_stats()
    store.update_knobs({"upload_latency_ms": 1000})

    async with small_pool(ctx) as small:
        async def still_running() -> bool:  # a query on the small pool, as a driver's check is
            async with small.sessionmaker() as session:
                return (await session.execute(text("SELECT 1 FROM sync_runs WHERE id = :id"),
                                              {"id": run_id})).first() is not None

        async with idle_in_transaction(ctx, longer_than_ms=500) as idle:
            assert await image_step(small, run_id, conn["id"], still_running) is True

    assert idle == []  # the old step sat a whole upload (1 s) idle in transaction, per picture
    assert await image_states(ctx, run_id) == {"done": 12}
    stats = store.stats()
    assert stats["requests"][UPLOADS] == stats["media_created"] == len(COLOURS)  # each picture once, none retried
    assert stats["uploads_peak"] == 2  # store_concurrency, and used
    products = store_by_sku(woo_server.base_url)
    assert products["IMG-500"]["image_ids"] == products["IMG-508"]["image_ids"] != products["IMG-501"]["image_ids"]
    assert all(len(p["image_ids"]) == 1 for p in products.values())
    assert all(a.media_id and not a.kept and a.claim_token is None for a in await assets(ctx))


async def test_two_runs_meeting_the_same_new_pictures_upload_each_once(
        api, ctx, zoho, store, zoho_server, woo_server, monkeypatch):
    catalogue(zoho)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, store_concurrency=3)
    first = await products_written(api, ctx, conn["id"], monkeypatch)
    second = await products_written(api, ctx, conn["id"], monkeypatch)  # its images are still new
    store.reset_stats()
    store.update_knobs({"upload_latency_ms": 600})

    assert await asyncio.gather(image_step(ctx, first, conn["id"]), image_step(ctx, second, conn["id"])) == [True] * 2

    assert await image_states(ctx, first) == await image_states(ctx, second) == {"done": 12}
    stats = store.stats()
    assert stats["requests"][UPLOADS] == stats["media_created"] == len(COLOURS)
    assert stats["uploads_peak"] <= 6  # two steps, three slots each
    products = store_by_sku(woo_server.base_url)
    assert len({p["image_ids"][0] for p in products.values()}) == len(COLOURS)


def stop_after(calls: int) -> tuple[Callable[[], Awaitable[bool]], list[bool]]:
    """A keep_going that allows `calls` calls and refuses every later one, with its answers."""
    answers: list[bool] = []

    async def keep_going() -> bool:
        answers.append(len(answers) < calls)
        return answers[-1]

    return keep_going, answers


async def paused_before_uploading(api, ctx, zoho, store, zoho_server, woo_server, monkeypatch) -> tuple[str, uuid.UUID]:
    """A run paused as its image step was about to upload: nothing written, pictures kept."""
    catalogue(zoho)
    conn = await create_connection(api, zoho_server.base_url, woo_server.base_url, store_concurrency=2)
    run_id = await products_written(api, ctx, conn["id"], monkeypatch)
    store.reset_stats()
    keep_going, answers = stop_after(1)  # the chunk starts; the first upload finds the run paused
    assert await image_step(ctx, run_id, conn["id"], keep_going) is False
    assert answers[0] is True and answers[1:] and not any(answers[1:])
    assert [r for r in store.stats()["requests"] if not r.startswith("GET ")] == []  # no upload, no write
    assert await image_states(ctx, run_id) == {"pending": 12}
    kept = await assets(ctx)
    assert kept and all(a.media_id is None and a.kept and a.claim_token is None for a in kept)
    return conn["id"], run_id


async def test_a_paused_step_writes_nothing_and_a_dead_workers_claim_is_taken_over(
        api, ctx, zoho, store, zoho_server, woo_server, monkeypatch):
    connection_id, run_id = await paused_before_uploading(api, ctx, zoho, store, zoho_server, woo_server,
                                                          monkeypatch)
    async with transaction(ctx.sessionmaker) as session:  # claimed by a worker that died long ago
        await session.execute(text(
            "UPDATE media_assets SET claim_token = 'dead', claimed_at = now() - interval '1 hour'"))

    assert await image_step(ctx, run_id, connection_id) is True

    assert await image_states(ctx, run_id) == {"done": 12}
    assert store.stats()["requests"][UPLOADS] == len(COLOURS)
    assert all(a.media_id and a.claim_token is None for a in await assets(ctx))


async def test_a_picture_another_worker_is_uploading_is_waited_for_not_uploaded_again(
        api, ctx, zoho, store, zoho_server, woo_server, monkeypatch):
    connection_id, run_id = await paused_before_uploading(api, ctx, zoho, store, zoho_server, woo_server,
                                                          monkeypatch)
    async with transaction(ctx.sessionmaker) as session:  # another worker claims every kept picture
        claimed = (await session.execute(text("""
            UPDATE media_assets SET claim_token = 'other', claimed_at = now()
            RETURNING content_sha256, content_type, data"""))).all()

    async def other_worker() -> dict[str, int]:
        """Renews its claims past a lease of the step's own waiting, then uploads and records."""
        for _ in range(8):
            await asyncio.sleep(0.25)
            async with transaction(ctx.sessionmaker) as session:
                await session.execute(text("UPDATE media_assets SET claimed_at = now() WHERE claim_token = 'other'"))
        uploaded = {}
        async with WordPressMedia(base_url=woo_server.base_url, username=DEMO_APP_PASSWORD[0],
                                  application_password=DEMO_APP_PASSWORD[1]) as media:
            for sha, content_type, data in claimed:
                uploaded[sha] = await media.upload(data, filename=f"other-{sha[:8]}.jpg", content_type=content_type)
                async with transaction(ctx.sessionmaker) as session:
                    await session.execute(text("""
                        UPDATE media_assets SET media_id = :media_id, data = NULL, claim_token = NULL, claimed_at = NULL
                        WHERE content_sha256 = :sha AND claim_token = 'other'"""), {"media_id": uploaded[sha], "sha": sha})
        return uploaded

    done, uploaded = await asyncio.gather(image_step(ctx, run_id, connection_id), other_worker())

    assert done is True and await image_states(ctx, run_id) == {"done": 12}
    assert store.stats()["requests"][UPLOADS] == store.stats()["media_created"] == len(COLOURS)
    media_ids = {a.content_sha256: a.media_id for a in await assets(ctx)}
    assert all(media_ids[sha] == media_id for sha, media_id in uploaded.items())  # the other worker's stand
    shown = {p["image_ids"][0] for p in store_by_sku(woo_server.base_url).values()}
    assert set(uploaded.values()) <= shown and len(shown) == len(COLOURS)
