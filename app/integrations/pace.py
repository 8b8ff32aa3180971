"""A store's pace: how many objects go in one batch and how many batches are in flight.

Shared hosting times out on a batch of 100 with images while a fast store takes more in
parallel (on a real WooCommerce 11.0.1 here, 50 objects × 2 in flight beat 100 × 4). So both
follow the store's answers, within the connection's `batch_size` and `store_concurrency`:
- a batch that timed out halves the batch size, and the size that timed out is never tried
  again: the ceiling drops to three quarters of it;
- a 429 or 5xx halves the batches in flight;
- `GROW_AFTER` fast answers in a row grow both back one step, up to their ceilings.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

GROW_AFTER = 3  # fast answers in a row before a step up
FAST_SECONDS = 20.0  # a batch answered within this is fast (the client waits up to 180 s)


@dataclass
class Pace:
    max_size: int
    max_in_flight: int
    size: int = 0
    in_flight: int = 0
    ceiling: int = 0
    _streak: int = 0
    _busy: int = 0
    _turn: asyncio.Condition = field(default_factory=asyncio.Condition, repr=False)

    def __post_init__(self) -> None:
        self.size = self.size or self.max_size
        self.in_flight = self.in_flight or self.max_in_flight
        self.ceiling = self.ceiling or self.max_size

    @property
    def step(self) -> int:
        return max(1, self.max_size // 10)

    def timed_out(self, size: int) -> None:
        """A batch of `size` objects timed out: smaller batches from now on."""
        self.ceiling = max(1, min(self.ceiling, size * 3 // 4))
        self.size = max(1, min(self.size, size // 2))
        self._streak = 0

    def strained(self) -> None:
        """The store answered 429 or 5xx: fewer batches at once."""
        self.in_flight = max(1, self.in_flight // 2)
        self._streak = 0

    def answered(self, seconds: float) -> None:
        """A batch went through in `seconds`; enough fast ones in a row grow the pace back."""
        self._streak = self._streak + 1 if seconds < FAST_SECONDS else 0
        if self._streak >= GROW_AFTER:
            self._streak = 0
            self.size = min(self.ceiling, self.size + self.step)
            self.in_flight = min(self.max_in_flight, self.in_flight + 1)

    def as_dict(self) -> dict[str, int]:
        return {"batch_size": self.size, "in_flight": self.in_flight}

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of the `in_flight` batches that may be at the store at once."""
        async with self._turn:
            await self._turn.wait_for(lambda: self._busy < self.in_flight)
            self._busy += 1
        try:
            yield
        finally:
            async with self._turn:
                self._busy -= 1
                self._turn.notify_all()
