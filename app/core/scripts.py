"""Redis Lua scripts, run the one typed way.

redis-py types `eval` for its sync and async clients at once (a result or an awaitable) and its
arguments as strings; on the async clients used here it is always awaitable, and Redis reads
every argument as a string anyway.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, cast

from redis.asyncio import Redis


async def run_script(redis: Redis, script: str, keys: Sequence[str], args: Sequence[str | int | float] = ()) -> Any:
    """EVAL `script` over `keys` with `args`; its reply."""
    return await cast(Awaitable[Any], redis.eval(script, len(keys), *keys, *(str(a) for a in args)))
