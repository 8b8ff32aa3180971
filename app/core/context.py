"""Everything long-lived that the API and the workers share: one engine, one Redis pool, and
what the vendor adapters keep per process (Zoho's call budget, kept by
app/connections/adapters.py). Built once per process (API lifespan, worker start-up) and closed
at shutdown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from arq.connections import ArqRedis, RedisSettings
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.core.crypto import Keyring
from app.db.session import create_engine, create_sessionmaker


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: ArqRedis
    owns_redis: bool = True
    # Long-lived objects the adapters share across the process, by name (app/connections/adapters.py).
    shared: dict[str, Any] = field(default_factory=dict)
    # The wall clock of the figures read "as of now" (the Zoho budget's day, the webhook log's
    # retention window); tests set a fixed one.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @cached_property
    def keyring(self) -> Keyring:
        """SECRET_KEY and SECRET_KEYS, built once from this context's settings."""
        return Keyring.from_settings(self.settings)

    async def close(self) -> None:
        if self.owns_redis:
            await self.redis.aclose()
        await self.engine.dispose()


async def open_context(settings: Settings, *, redis: ArqRedis | None = None) -> AppContext:
    engine = create_engine(settings.database_url)
    owns_redis = redis is None
    redis = redis or redis_pool(settings)
    return AppContext(settings=settings, engine=engine, sessionmaker=create_sessionmaker(engine), redis=redis,
                      owns_redis=owns_redis)


def redis_pool(settings: Settings) -> ArqRedis:
    """A pool that connects on first use. arq's create_pool pings Redis first (five tries, a
    second apart) and raises when it is down, so an API started during a Redis outage would
    exit instead of answering 503 until Redis is back. A connect that hangs gives up after a
    second, as arq's does."""
    timeout = redis_settings(settings).conn_timeout
    redis: ArqRedis = ArqRedis.from_url(settings.redis_url, socket_connect_timeout=timeout)
    redis.default_queue_name = settings.queue_name
    return redis


def redis_settings(settings: Settings) -> RedisSettings:
    return RedisSettings.from_dsn(settings.redis_url)
