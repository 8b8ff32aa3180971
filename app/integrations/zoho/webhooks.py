"""What a Zoho webhook delivery looks like: how it is signed, and the item it carries.

The signature: hex HMAC-SHA256 in the `X-Zoho-Webhook-Signature` header, keyed by the webhook's
secret, over the query parameters sorted by name (each name followed by its value, no
separators) and then the raw body. Documented for Zoho Billing and Books; for Inventory only
third parties confirm it (see shared/reference/zoho-api.md §6.4). Compared in constant time, as
bytes: the header is whatever the internet sends, and `hmac.compare_digest` raises on a str with
non-ASCII characters.

How the webhook and its workflow rule are set up in Zoho: app/integrations/zoho/automation.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import string
from collections.abc import Iterable
from typing import Any

SIGNATURE_HEADER = "x-zoho-webhook-signature"
SECRET_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 40  # Zoho accepts 12–50 letters and digits
_HEX_DIGEST_LENGTH = 64
_HEX = frozenset(b"0123456789abcdef")


def new_secret() -> str:
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))


def signing_payload(query: Iterable[tuple[str, str]], body: bytes) -> bytes:
    ordered = sorted(query, key=lambda pair: pair[0])
    return "".join(f"{name}{value}" for name, value in ordered).encode() + body


def sign(secret: str, query: Iterable[tuple[str, str]], body: bytes) -> str:
    return hmac.new(secret.encode(), signing_payload(query, body), hashlib.sha256).hexdigest()


def as_digest(signature: str | None) -> bytes | None:
    """The header as the 64 lowercase hex bytes a signature is made of, or None for any other
    value (absent, empty, non-ASCII, malformed, huge): such a header can never match, so the
    intake refuses it without reading the body. Looking at the header's shape tells nothing
    about the secret."""
    if not signature:
        return None
    given = signature.strip().lower().encode("utf-8", "backslashreplace")  # never raises
    if len(given) != _HEX_DIGEST_LENGTH or not _HEX.issuperset(given):
        return None
    return given


def verify(secret: str, query: Iterable[tuple[str, str]], body: bytes, signature: str | None) -> bool:
    given = as_digest(signature)
    return given is not None and hmac.compare_digest(sign(secret, query, body).encode(), given)


def item_of(body: bytes) -> tuple[str | None, str | None]:
    """(item_id, sku) from `{"item": {...}}` or a bare item; (None, reason) when it is not one.
    The payload is only a hint: the job fetches the item's real state from Zoho."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None, "the body is not JSON"
    item = data.get("item", data) if isinstance(data, dict) else None
    if not isinstance(item, dict) or not str(item.get("item_id") or "").strip():
        return None, None
    item_id = str(item["item_id"]).strip()
    if len(item_id) > 64 or not item_id.isalnum():
        return None, "the item_id is not a Zoho id"
    sku = item.get("sku")
    return item_id, (str(sku)[:200] if sku not in (None, "") else None)


class ZohoWebhookScheme:
    """`app.ports.catalog.WebhookScheme` for Zoho Inventory: the functions above, as one object."""

    signature_header = SIGNATURE_HEADER

    def new_secret(self) -> str:
        return new_secret()

    def can_be_signature(self, header: str | None) -> bool:
        return as_digest(header) is not None

    def verify(self, secret: str, query: Iterable[tuple[str, str]], body: bytes, signature: str | None) -> bool:
        return verify(secret, query, body, signature)

    def item_of(self, body: bytes) -> tuple[str | None, str | None]:
        return item_of(body)


ZOHO_WEBHOOKS = ZohoWebhookScheme()

