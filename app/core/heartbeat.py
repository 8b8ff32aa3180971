"""Keeping something alive while a block of work runs: a run's lease, an upload's claim on its
picture, a job's keys in Redis. One background beat, so each keeps only what it renews."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def heartbeat(beat: Callable[[], Awaitable[bool | None]], *, every: float, event: str,
                    immediately: bool = False,
                    errors: type[BaseException] | tuple[type[BaseException], ...] = Exception,
                    **context: Any) -> AsyncIterator[None]:
    """Call `beat` every `every` seconds (first at once with `immediately`) while the block runs.
    A beat that raises one of `errors` is logged as `event` and the next one tried: a blip must
    not end the work. A beat that answers False says there is nothing left to keep alive, and
    the beating stops."""

    async def loop() -> None:
        if not immediately:
            await asyncio.sleep(every)
        while True:
            try:
                if await beat() is False:
                    return
            except errors as exc:
                log.warning(event, error=str(exc), **context)
            await asyncio.sleep(every)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
