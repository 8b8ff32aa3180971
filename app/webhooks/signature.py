"""Zoho's webhook signature: hex HMAC-SHA256, keyed by the webhook's secret, over the query
parameters sorted by name (each name followed by its value, no separators) and then the raw body.

Documented for Zoho Billing and Books; for Inventory only third parties confirm it (see
shared/reference/zoho-api.md §6.4). Compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Iterable

SECRET_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 40  # Zoho accepts 12–50 letters and digits


def new_secret() -> str:
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))


def signing_payload(query: Iterable[tuple[str, str]], body: bytes) -> bytes:
    ordered = sorted(query, key=lambda pair: pair[0])
    return "".join(f"{name}{value}" for name, value in ordered).encode() + body


def sign(secret: str, query: Iterable[tuple[str, str]], body: bytes) -> str:
    return hmac.new(secret.encode(), signing_payload(query, body), hashlib.sha256).hexdigest()


def verify(secret: str, query: Iterable[tuple[str, str]], body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(sign(secret, query, body), signature.strip().lower())
