"""The retry policy both vendor clients share (app/integrations/retry.py): no HTTP server, no
database, no real waiting (sleep is injected)."""

from __future__ import annotations

import httpx
import pytest
from structlog.testing import CapturingLogger

from app.integrations import retry
from app.integrations.retry import Attempts, Retry, RetryPolicy, Wait, call_with_retries
from app.integrations.woocommerce import client as woo_client
from app.integrations.woocommerce.client import send_with_retries
from app.integrations.woocommerce.errors import WooUnavailable


@pytest.fixture
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full jitter draws from [0, ceiling]; drawing the ceiling makes backoff exact."""
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: high)


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_backoff_doubles_from_base_up_to_its_cap(no_jitter: None) -> None:
    policy = RetryPolicy(10, base=0.5, backoff_cap=3.0)
    assert [policy.wait(attempt) for attempt in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert [RetryPolicy(10, base=0.25, backoff_cap=2.0).wait(n) for n in (1, 4, 9)] == [0.25, 2.0, 2.0]


def test_the_wait_cap_bounds_backoff_too(no_jitter: None) -> None:
    policy = RetryPolicy(10, base=1.0, backoff_cap=60.0, wait_cap=5.0)
    assert [policy.wait(attempt) for attempt in range(1, 5)] == [1.0, 2.0, 4.0, 5.0]


def test_backoff_is_jittered_below_its_ceiling() -> None:
    waits = [RetryPolicy(10, base=0.5, backoff_cap=30.0).wait(3) for _ in range(200)]
    assert all(0.0 <= wait <= 2.0 for wait in waits) and len(set(waits)) > 1


def test_retry_after_beats_backoff_and_its_cap_but_not_the_wait_cap(no_jitter: None) -> None:
    policy = RetryPolicy(10, base=0.5, backoff_cap=1.0)
    assert policy.wait(1, asked=7.0) == 7.0
    assert policy.wait(5, asked=0.0) == 0.0  # "now" is an answer, not an absence
    assert RetryPolicy(10, wait_cap=5.0).wait(1, asked=7.0) == 5.0


def test_a_policy_allows_max_attempts_tries_in_all(no_jitter: None) -> None:
    policy, attempts = RetryPolicy(3, base=1.0), Attempts()
    waits = [attempts.charge(Retry(policy, "HTTP 503")) for _ in range(3)]
    assert [(w.attempt, w.seconds, w.spent) for w in waits] == [(1, 1.0, False), (2, 2.0, False), (3, None, True)]
    assert all(w.policy is policy for w in waits) and attempts.count(policy) == 3


def test_429s_are_counted_apart_then_handed_on_to_failures(no_jitter: None) -> None:
    failures = RetryPolicy(3, base=1.0)
    rate_waits = RetryPolicy(3, base=10.0, then=failures)  # two 429s sat out
    attempts = Attempts()
    charged = [attempts.charge(Retry(policy, "x")) for policy in
               (rate_waits, failures, rate_waits, rate_waits, rate_waits)]
    assert [(w.policy is rate_waits, w.attempt, w.seconds) for w in charged] == [
        (True, 1, 10.0), (False, 1, 1.0), (True, 2, 20.0), (False, 2, 2.0), (False, 3, None)]
    assert (attempts.count(rate_waits), attempts.count(failures)) == (2, 3)


def test_a_429_with_no_waits_of_its_own_counts_as_a_failure_at_once(no_jitter: None) -> None:
    failures = RetryPolicy(2)
    wait = Attempts().charge(Retry(RetryPolicy(1, then=failures), "HTTP 429", asked=4.0))
    assert (wait.policy, wait.attempt, wait.seconds) == (failures, 1, 4.0)  # its Retry-After kept


def test_policies_with_equal_numbers_keep_separate_counts() -> None:
    first, second, attempts = RetryPolicy(2), RetryPolicy(2), Attempts()
    assert attempts.charge(Retry(first, "a")).attempt == 1
    assert attempts.charge(Retry(second, "b")).attempt == 1


async def test_the_loop_sleeps_each_wait_and_returns_the_answer(no_jitter: None) -> None:
    failures = RetryPolicy(5, base=1.0)
    script: list[object] = [Retry(failures, "HTTP 502"), Retry(failures, "HTTP 503", asked=9.0), "the answer"]
    told: list[Wait] = []
    sleeps = Sleeps()

    async def try_once(_: Attempts) -> object:
        return script.pop(0)

    answer = await call_with_retries(try_once, give_up=lambda wait: AssertionError("gave up"),
                                     on_retry=told.append, sleep=sleeps)
    assert answer == "the answer" and sleeps == [1.0, 9.0]
    assert [(w.attempt, w.retry.reason) for w in told] == [(1, "HTTP 502"), (2, "HTTP 503")]


async def test_the_loop_raises_what_give_up_makes_of_the_last_retry(no_jitter: None) -> None:
    policy, sleeps = RetryPolicy(3), Sleeps()

    async def try_once(_: Attempts) -> object:
        return Retry(policy, "ConnectError")

    def give_up(wait: Wait) -> Exception:
        return RuntimeError(f"after {wait.attempt} attempts ({wait.retry.reason})")

    with pytest.raises(RuntimeError, match=r"^after 3 attempts \(ConnectError\)$"):
        await call_with_retries(try_once, give_up=give_up, on_retry=lambda wait: None, sleep=sleeps)
    assert sleeps == [0.5, 1.0]


async def test_a_wait_counted_by_the_try_itself_is_slept_but_not_counted_again(no_jitter: None) -> None:
    """Zoho records a 429's wait as the organization's block inside its call slot, then sleeps 0."""
    policy, sleeps, seen = RetryPolicy(3), Sleeps(), []

    async def try_once(attempts: Attempts) -> object:
        seen.append(attempts.count(policy))
        if len(seen) < 3:
            wait = attempts.charge(Retry(policy, "HTTP 429"))
            return Wait(wait.retry, wait.policy, wait.attempt, 0.0)
        return "done"

    told: list[Wait] = []
    assert await call_with_retries(try_once, give_up=lambda wait: AssertionError(), on_retry=told.append,
                                   sleep=sleeps) == "done"
    assert seen == [0, 1, 2] and sleeps == [0.0, 0.0] and told == []


# --- WooCommerce's use of it: send_with_retries over a fake transport -------------------------


def store(answers: list[httpx.Response | Exception]) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.AsyncClient(base_url="https://shop.test", transport=httpx.MockTransport(handler))


def busy(status: int, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(status, json={"code": "busy", "message": "later"}, headers=headers)


async def test_woo_sits_out_429s_apart_from_its_attempts(no_jitter: None, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [busy(429), busy(503), busy(429, "12"), busy(429), httpx.Response(200, json={"ok": True})]
    sleeps, strains = Sleeps(), []
    # The module's own logger, replaced: structlog's capture_logs misses a logger another test has
    # already used (loggers are cached on first use), so it would depend on the test order.
    logger = CapturingLogger()
    monkeypatch.setattr(woo_client, "log", logger)
    async with store(answers) as http:
        response = await send_with_retries(http, "GET", "/p", endpoint="GET /p", max_attempts=2, backoff_cap=5.0,
                                           max_rate_waits=3, on_strain=lambda: strains.append(1), sleep=sleeps)
    assert response.status_code == 200 and answers == []
    assert sleeps == [0.5, 0.5, 5.0, 2.0]  # Retry-After 12 capped at 5; the 429s' own count: 1, 2, 3
    assert len(strains) == 4
    retries = [call.kwargs for call in logger.calls if call.args == ("woocommerce.retry",)]
    assert [(e["endpoint"], e["attempt"], e["wait"], e["reason"]) for e in retries] == [
        ("GET /p", 1, 0.5, "HTTP 429: busy: later"), ("GET /p", 1, 0.5, "HTTP 503: busy: later"),
        ("GET /p", 2, 5.0, "HTTP 429: busy: later"), ("GET /p", 3, 2.0, "HTTP 429: busy: later")]


async def test_woo_429s_beyond_their_waits_use_up_the_attempts(no_jitter: None) -> None:
    """Uploads sit out no 429: each is an attempt."""
    answers: list[httpx.Response | Exception] = [busy(429), busy(429), busy(429)]
    sleeps = Sleeps()
    async with store(answers) as http:
        with pytest.raises(WooUnavailable, match=r"^WordPress did not take the upload after 3 attempts "
                                                  r"\(HTTP 429: busy: later\)$"):
            await send_with_retries(http, "POST", "/m", endpoint="POST /m", max_attempts=3, backoff_cap=30.0,
                                    max_rate_waits=0, giving_up="WordPress did not take the upload", sleep=sleeps)
    assert answers == [] and sleeps == [0.5, 1.0]


async def test_woo_network_errors_are_retried_without_a_retry_after(no_jitter: None) -> None:
    answers: list[httpx.Response | Exception] = [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")]
    sleeps = Sleeps()
    async with store(answers) as http:
        with pytest.raises(WooUnavailable, match=r"^store did not answer after 2 attempts \(ReadTimeout: slow\)$"):
            await send_with_retries(http, "GET", "/p", endpoint="GET /p", max_attempts=2, backoff_cap=30.0,
                                    sleep=sleeps)
    assert sleeps == [0.5]
