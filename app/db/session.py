"""Engine and session factory. Infrastructure owns the transaction: callers add and flush,
the request dependency or the job wrapper commits or rolls back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# A Postgres that does not answer (rather than refusing) must not hold a request for asyncpg's
# default 60 s: after this, the API answers 503 and a run pauses for the fault.
CONNECT_TIMEOUT_S = 10


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(database_url, pool_size=pool_size, max_overflow=5, pool_pre_ping=True,
                               connect_args={"timeout": CONNECT_TIMEOUT_S})


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
