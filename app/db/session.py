"""Engine and session factory. Infrastructure owns the transaction: callers add and flush,
the request dependency or the job wrapper commits or rolls back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, func, select
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


async def db_now(session: AsyncSession) -> datetime:
    """The database's clock (its transaction's start), the one the rows' timestamps were written by."""
    moment: datetime = (await session.execute(select(func.now()))).scalar_one()
    return moment


def rows_touched(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched. Its result is a CursorResult, which the generic `Result`
    that `session.execute` declares hides from the type checker."""
    return cast(CursorResult[Any], result).rowcount or 0
