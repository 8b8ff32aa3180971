"""Retry timing shared by the vendor clients: Retry-After when the vendor gives it, otherwise
capped exponential backoff with full jitter (the policy of openai-python's _base_client)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx


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
