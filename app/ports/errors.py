"""One error hierarchy for every vendor adapter, sorted by what the engine does about it:
stop (auth refused, a forbidden address), wait and retry (unavailable, out of quota), or record
the refusal (a bad request). An adapter's own error classes subclass these, so the engine
catches the meaning and never the vendor.
"""

from __future__ import annotations

from typing import Any


class VendorError(Exception):
    """Anything a vendor answered that is not what was asked for. `party` names who answered,
    in the words a merchant reads ("the store", "Zoho"); `code` is the vendor's own."""

    party = "the vendor"

    def __init__(self, message: str, *, status: int | None = None, code: Any = None,
                 data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.data = data or {}


class AuthRefused(VendorError):
    """Wrong or insufficient credentials: retrying cannot help."""

    @property
    def reason(self) -> str:
        """The refusal as a run's reason: who refused, then why, said once (a message that
        already names who refused, such as a refused refresh token's, is not prefixed again)."""
        if self.message.startswith(f"{self.party[:1].upper()}{self.party[1:]} "):
            return self.message
        return f"{self.party} refused the credentials: {self.message}"


class ReconnectNeeded(AuthRefused):
    """The catalogue refused the grant the operator gave by signing in (a refresh token that was
    revoked, replaced or is wrong): only signing in again helps. The connection is marked
    `needs_reconnect` (app/connections/links.py) and runs do not start until then."""


class BadRequest(VendorError):
    """The vendor rejected the request itself (the caller's fault)."""


class NotFound(BadRequest):
    """The record asked for does not exist."""


class ForbiddenTarget(BadRequest):
    """The connection points at an address this deployment may not call: a verdict on the
    connection, never retried."""


class Unavailable(VendorError):
    """The vendor could not answer (5xx, 429, network) beyond the retries: try again later."""


class QuotaExhausted(VendorError):
    """The vendor's call budget is spent or it asked for a wait too long to sit out.
    `retry_after`: seconds until calls are worth trying again, None when nobody knows."""

    def __init__(self, message: str, *, retry_after: float | None, status: int | None = None,
                 code: Any = None) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class ImageUnavailable(VendorError):
    """An item's image cannot be had (none, unservable, empty, too large): not a failure of the
    call; the caller records `reason` against the item and carries on."""

    def __init__(self, reason: str, *, status: int | None = None, code: Any = None) -> None:
        super().__init__(reason, status=status, code=code)
        self.reason = reason
