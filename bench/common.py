"""What both benchmarks share: their own database and Redis db, and a fresh migrated schema.

Import this before anything from `app`: settings are read from the environment it sets.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE_DB = os.environ.get("DATABASE_URL", "postgresql+asyncpg://skubridge:skubridge@127.0.0.1:5432/skubridge")
# BENCH_DATABASE_URL lets benchmarks run side by side, each on its own database.
BENCH_DB = os.environ.get("BENCH_DATABASE_URL") or BASE_DB.rsplit("/", 1)[0] + "/skubridge_bench"
BENCH_DB_NAME = BENCH_DB.rsplit("/", 1)[1]
os.environ.update({
    "DATABASE_URL": BENCH_DB,
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"),
    "QUEUE_NAME": f"skubridge:bench:{uuid.uuid4().hex[:8]}",
    "LOG_LEVEL": "WARNING",
    "ENVIRONMENT": "development",
})


async def prepare_database() -> None:
    """Create the bench database if needed and rebuild its schema from the migrations."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.db.migrate import upgrade

    admin = create_async_engine(BASE_DB, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        if not await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": BENCH_DB_NAME}):
            await conn.execute(text(f'CREATE DATABASE "{BENCH_DB_NAME}"'))
    await admin.dispose()
    engine = create_async_engine(BENCH_DB)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    await asyncio.to_thread(upgrade, BENCH_DB)
