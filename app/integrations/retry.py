"""One retry policy for every vendor call.

Each client classifies an answer in its own words: done (return it), final (raise), or a `Retry`
counted under one of its `RetryPolicy`s, with the reason and the wait the vendor asked for, if
any. `call_with_retries` does the rest, the same way for every vendor: it counts the retry
against its policy, gives up when the policy is spent, and otherwise waits the vendor's
Retry-After or capped exponential backoff with full jitter (the policy of openai-python's
_base_client) before the next try.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

Sleep = Callable[[float], Awaitable[Any]]
T = TypeVar("T")


@dataclass(frozen=True, eq=False, slots=True)
class RetryPolicy:
    """How one kind of refusal is retried: `max_attempts` tries in all (so one wait fewer),
    each wait the vendor's Retry-After when it gives one, else full-jitter backoff from `base`
    doubling up to `backoff_cap`; no wait longer than `wait_cap`. A spent policy with `then`
    hands further refusals on to that policy (WooCommerce's 429s, once sat out, count as
    failures) instead of giving up.

    Policies are counted by identity (eq=False): two kinds of refusal with equal numbers keep
    separate counts.
    """

    max_attempts: int
    base: float = 0.5
    backoff_cap: float = 30.0
    wait_cap: float = math.inf
    then: RetryPolicy | None = None

    def wait(self, attempt: int, asked: float | None = None) -> float:
        """Seconds before the try after the 1-based `attempt`: the vendor's word first."""
        wait = asked if asked is not None else backoff_seconds(attempt, base=self.base, cap=self.backoff_cap)
        return min(wait, self.wait_cap)


@dataclass(frozen=True, slots=True)
class Retry:
    """A client's verdict on an answer: worth another try, counted under `policy`."""

    policy: RetryPolicy
    reason: str
    asked: float | None = None  # the vendor's Retry-After, in seconds


@dataclass(frozen=True, slots=True)
class Wait:
    """A retry once counted: the policy that counted it (`retry.policy` or one it handed on to),
    its 1-based attempt under that policy, and the seconds to wait; None when the policy is spent."""

    retry: Retry
    policy: RetryPolicy
    attempt: int
    seconds: float | None

    @property
    def spent(self) -> bool:
        return self.seconds is None


class Attempts:
    """One call's retries so far, counted per policy."""

    def __init__(self) -> None:
        self._counts: dict[RetryPolicy, int] = {}

    def count(self, policy: RetryPolicy) -> int:
        return self._counts.get(policy, 0)

    def charge(self, retry: Retry) -> Wait:
        """Count `retry` under its policy, or the first policy down its `then` chain not spent."""
        policy = retry.policy
        while self.count(policy) + 1 >= policy.max_attempts and policy.then is not None:
            policy = policy.then
        attempt = self._counts[policy] = self.count(policy) + 1
        spent = attempt >= policy.max_attempts
        return Wait(retry, policy, attempt, None if spent else policy.wait(attempt, retry.asked))


async def call_with_retries(
    try_once: Callable[[Attempts], Awaitable[T | Retry | Wait]],
    *,
    give_up: Callable[[Wait], BaseException],
    on_retry: Callable[[Wait], None],
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Try until `try_once` returns an answer or raises. A `Retry` is counted here: raised as
    `give_up` makes it when its policy is spent, else told to `on_retry` (to log) and slept.
    `try_once` may count a retry itself (`attempts.charge`) and return the `Wait`, when its wait
    must be recorded before the try lets go of something (Zoho's in-flight slot)."""
    attempts = Attempts()
    while True:
        outcome = await try_once(attempts)
        if isinstance(outcome, Retry):
            outcome = attempts.charge(outcome)
            if outcome.seconds is None:
                raise give_up(outcome)
            on_retry(outcome)
        if not isinstance(outcome, Wait):
            return outcome
        await sleep(outcome.seconds or 0.0)


def retry_after_seconds(response: httpx.Response | None) -> float | None:
    """Seconds the vendor asked us to wait, from a numeric or HTTP-date Retry-After header."""
    if response is None:
        return None
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff_seconds(attempt: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Full-jitter exponential backoff for the given 1-based attempt."""
    return random.uniform(0, min(cap, base * (2 ** (attempt - 1))))
