"""WooCommerce errors: the store refused us (auth), refused the request (caller's fault), or
could not answer (operational, worth retrying later)."""

from __future__ import annotations

from typing import Any


class WooError(Exception):
    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.data = data or {}


class WooAuthError(WooError):
    """Wrong or insufficient credentials: retrying cannot help, the run stops at once."""


class WooRequestError(WooError):
    """The store rejected the request itself (4xx other than auth)."""


class WooUnavailable(WooError):
    """5xx, 429 or timeouts that outlasted the retries."""


class WooTargetRefused(WooRequestError):
    """The store's address is one this deployment may not call (app/integrations/targets.py):
    a verdict on the connection, never retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="forbidden_target")


class WooBatchTimeout(WooUnavailable):
    """A batch got no answer in time (a timeout, or a gateway's 504): sent again in smaller parts."""
