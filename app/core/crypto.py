"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) blobs, each bound to its connection.

A `Keyring` holds SECRET_KEY, which seals, and the SECRET_KEYS of old, which only open. Any
string works as a key: HKDF-SHA256 stretches it into a Fernet key.

Binding. Fernet has no associated data, so the binding is in the key: the Fernet key of a blob
is derived per connection and per purpose (the column: `credentials`, `webhook_secret`) with
HKDF, `info = b"<purpose>:<connection id>"`. A blob copied to another row, or to the other
column of the same row, fails Fernet's HMAC check there and reads as `CredentialsUnreadable`,
exactly like a blob sealed with an unknown key. Sealed blobs carry the prefix `v2:`.

Blobs written before binding existed (no prefix: one Fernet key per SECRET_KEY, HKDF salt
`b"skubridge-credentials"`) still open, unbound, with any known key. Any write re-seals a blob
bound, and `skubridge rotate-keys` re-seals every one (see app/connections/rotation.py): run
it after upgrading and after every change of SECRET_KEY, then drop the old keys.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from app.config import Settings

Purpose = Literal["credentials", "webhook_secret"]
PURPOSES: tuple[Purpose, ...] = ("credentials", "webhook_secret")
BOUND_PREFIX = "v2:"
_BOUND_SALT = b"skubridge-keyring-v2"
_LEGACY_SALT = b"skubridge-credentials"


class CredentialsUnreadable(Exception):
    """A stored secret opens with no known key: sealed with a key that is neither SECRET_KEY nor
    in SECRET_KEYS, or sealed for another connection."""


class Keyring:
    """SECRET_KEY (seals and opens) and SECRET_KEYS (open only), built once per process."""

    def __init__(self, current: str, old: Sequence[str] = ()) -> None:
        self._keys = (current, *(key for key in old if key != current))

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        return cls(settings.secret_key.get_secret_value(), settings.old_secret_keys)

    def seal(self, data: dict[str, Any], *, connection_id: uuid.UUID, purpose: Purpose) -> str:
        """`data` as JSON, sealed with SECRET_KEY for this connection and purpose."""
        token = _bound(self._keys[0], connection_id, purpose).encrypt(json.dumps(data, separators=(",", ":")).encode())
        return BOUND_PREFIX + token.decode()

    def open(self, blob: str, *, connection_id: uuid.UUID, purpose: Purpose) -> dict[str, Any]:
        """The data a blob of this connection and purpose holds, sealed by any known key."""
        token, fernets = self._candidates(blob, connection_id, purpose)
        try:
            data: dict[str, Any] = json.loads(MultiFernet(fernets).decrypt(token))
            return data
        except InvalidToken:
            raise _unreadable(connection_id, purpose) from None

    def reseal(self, blob: str, *, connection_id: uuid.UUID, purpose: Purpose) -> str | None:
        """The blob re-sealed with SECRET_KEY and bound (MultiFernet.rotate), or None when it
        already is: what `rotate-keys` writes."""
        current = _bound(self._keys[0], connection_id, purpose)
        token, fernets = self._candidates(blob, connection_id, purpose)
        if blob.startswith(BOUND_PREFIX) and _opens(current, token):
            return None
        try:
            return BOUND_PREFIX + MultiFernet([current, *fernets]).rotate(token).decode()
        except InvalidToken:
            raise _unreadable(connection_id, purpose) from None

    def _candidates(self, blob: str, connection_id: uuid.UUID, purpose: Purpose) -> tuple[bytes, list[Fernet]]:
        """The Fernet token and the keys that may open it: bound blobs only with this
        connection's keys, unprefixed (legacy) blobs only with the unbound ones."""
        if blob.startswith(BOUND_PREFIX):
            return blob.removeprefix(BOUND_PREFIX).encode(), [_bound(k, connection_id, purpose) for k in self._keys]
        return blob.encode(), [_legacy(key) for key in self._keys]


def _unreadable(connection_id: uuid.UUID, purpose: Purpose) -> CredentialsUnreadable:
    return CredentialsUnreadable(
        f"the stored {purpose} of connection {connection_id} cannot be decrypted with SECRET_KEY or any of "
        "SECRET_KEYS (sealed with another key, or for another connection)")


def _opens(fernet: Fernet, token: bytes) -> bool:
    try:
        fernet.decrypt(token)
    except InvalidToken:
        return False
    return True


@lru_cache(maxsize=4096)
def _bound(key: str, connection_id: uuid.UUID, purpose: str) -> Fernet:
    """The Fernet of one key, connection and purpose (cached: the intake opens a connection's
    webhook secret on every config refresh)."""
    return _derive(key, salt=_BOUND_SALT, info=f"{purpose}:{connection_id}".encode())


@lru_cache(maxsize=8)
def _legacy(key: str) -> Fernet:
    """The one unbound Fernet key of a SECRET_KEY, as blobs were sealed before binding."""
    return _derive(key, salt=_LEGACY_SALT, info=b"fernet")


def _derive(key: str, *, salt: bytes, info: bytes) -> Fernet:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info)
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(key.encode())))
