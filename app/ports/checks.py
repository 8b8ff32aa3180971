"""The access checks of "Test connection", in the service's words: each adapter proves one thing
about its credentials with as few read-only calls as it can, and answers a `Finding` (passed or
not, what it saw, and what the operator can do about it). Vendor calls and vendor words (which
setting, which screen) stay in the adapters; app/connections/checks.py orders the checks and
skips those whose prerequisite failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Finding:
    """`reconnect`: the catalogue refused the sign-in's grant itself (app/connections/links.py
    marks the connection `needs_reconnect`)."""

    passed: bool
    detail: str
    hint: str = ""
    reconnect: bool = False

    @classmethod
    def ok(cls, detail: str) -> Finding:
        return cls(True, detail)

    @classmethod
    def failed(cls, detail: str, hint: str, *, reconnect: bool = False) -> Finding:
        return cls(False, detail, hint, reconnect)


class CatalogAccess(Protocol):
    """The catalogue's credentials: token, organization, the calls a sync makes."""

    async def check_token(self) -> Finding: ...

    async def check_organization(self) -> Finding: ...

    async def check_scopes(self) -> Finding: ...

    async def aclose(self) -> None: ...


class StoreAccess(Protocol):
    """The store's API key: it reads, and it may write (proved without writing)."""

    async def check_read(self) -> Finding: ...

    async def check_write(self) -> Finding: ...

    async def aclose(self) -> None: ...


class MediaAccess(Protocol):
    """The credentials that upload images as files (proved without uploading)."""

    async def check_upload(self) -> Finding: ...

    async def aclose(self) -> None: ...
