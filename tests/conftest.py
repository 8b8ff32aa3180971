"""Test harness: real Postgres (migrated by Alembic), real Redis, both simulators on real
ports, the API in-process, and real arq workers as subprocesses where runs are involved.

Services that are missing make the tests fail, never skip.
"""

from __future__ import annotations

import os
import uuid

# Settings come from the environment: fix them before anything imports app.config.
_BASE_DB = os.environ.get("DATABASE_URL", "postgresql+asyncpg://skubridge:skubridge@127.0.0.1:5432/skubridge")
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or _BASE_DB.rsplit("/", 1)[0] + "/skubridge_test"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.update({
    "ENVIRONMENT": "test",
    "DATABASE_URL": TEST_DATABASE_URL,
    "REDIS_URL": TEST_REDIS_URL,
    "API_TOKEN": "test-token",
    "SECRET_KEY": "test-secret-key",
    "QUEUE_NAME": f"skubridge:test:{uuid.uuid4().hex[:8]}",
    "LEASE_SECONDS": "3",
    "RECOVERY_INTERVAL_SECONDS": "1",
    "FAULT_BACKOFF_SECONDS": "[1, 2]",
    "ZOHO_REQUESTS_PER_MINUTE": "100000",
    "STORE_MAX_ATTEMPTS": "3",
    "STORE_BACKOFF_CAP_SECONDS": "0.05",
    "LOG_LEVEL": "WARNING",
})

import httpx  # noqa: E402
import pytest  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from app.config import get_settings  # noqa: E402
from app.core.context import AppContext, open_context  # noqa: E402
from app.db.migrate import upgrade  # noqa: E402
from app.main import create_app  # noqa: E402
from simulators.server import ServerThread  # noqa: E402
from simulators.woocommerce.app import create_app as create_woo_app  # noqa: E402
from simulators.zoho.app import create_app as create_zoho_app  # noqa: E402
from tests.helpers import WorkerProcess  # noqa: E402

TABLES = ["webhook_events", "sync_logs", "sync_run_items", "sync_runs", "product_links", "connections"]


@pytest.fixture(scope="session")
def settings():
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture(scope="session")
async def database(settings):
    """A fresh schema, built by the migrations alone."""
    engine = create_async_engine(settings.database_url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    import asyncio

    await asyncio.to_thread(upgrade, settings.database_url)
    return settings.database_url


@pytest.fixture(scope="session")
async def ctx(settings, database) -> AppContext:
    redis = aioredis.from_url(settings.redis_url)
    await redis.flushdb()
    await redis.aclose()
    context = await open_context(settings)
    yield context
    await context.close()


@pytest.fixture(autouse=True)
async def clean_state(request):
    """Every test starts with empty tables (only for tests that use the database)."""
    if "ctx" not in request.fixturenames:
        yield
        return
    context: AppContext = request.getfixturevalue("ctx")
    async with context.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    async for key in context.redis.scan_iter("skubridge:zoho:*"):  # cached tokens, budgets
        await context.redis.delete(key)
    yield


@pytest.fixture
async def api(ctx, settings) -> httpx.AsyncClient:
    """The API in-process, authenticated with the test token."""
    app = create_app(settings, ctx=ctx)
    app.state.ctx = ctx
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api",
                                 headers={"Authorization": "Bearer test-token"}) as client:
        yield client
    if hasattr(app.state, "webhook_intake"):  # no lifespan runs under ASGITransport
        await app.state.webhook_intake.aclose()


@pytest.fixture(scope="session")
def zoho_server():
    server = ServerThread(create_zoho_app()).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def woo_server():
    server = ServerThread(create_woo_app()).start()
    yield server
    server.stop()


@pytest.fixture
def zoho(zoho_server):
    """The Zoho simulator's state, reset for this test."""
    state = zoho_server.app.state.zoho
    state.reset()
    # Tests that exercise the limit turn it back on; the rest should not wait on it.
    state.update_knobs({"rate_limit_per_minute": None})
    return state


@pytest.fixture
def store(woo_server):
    """The WooCommerce simulator's state, reset for this test."""
    from simulators.woocommerce.records import StoreKnobs

    state = woo_server.app.state.store
    state.reset()
    state.knobs = StoreKnobs()  # reset() keeps knobs; a test's latency or faults must not leak
    return state


@pytest.fixture
def worker(settings, database):
    """Start real arq worker processes on demand; all are stopped after the test."""
    started: list[WorkerProcess] = []

    def start(**options) -> WorkerProcess:
        process = WorkerProcess.start(**options)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
