"""Credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from SECRET_KEY.

The key is stretched with HKDF so any SECRET_KEY string works; changing SECRET_KEY makes the
stored credentials unreadable, which `CredentialsUnreadable` reports clearly.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class CredentialsUnreadable(Exception):
    """Stored credentials cannot be decrypted with the current SECRET_KEY."""


@lru_cache(maxsize=8)
def _fernet(secret_key: str) -> Fernet:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"skubridge-credentials", info=b"fernet")
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())))


def encrypt_json(secret_key: str, data: dict[str, Any]) -> str:
    return _fernet(secret_key).encrypt(json.dumps(data, separators=(",", ":")).encode()).decode()


def decrypt_json(secret_key: str, token: str) -> dict[str, Any]:
    try:
        return json.loads(_fernet(secret_key).decrypt(token.encode()))
    except InvalidToken as exc:
        raise CredentialsUnreadable("stored credentials cannot be decrypted with the current SECRET_KEY") from exc
