"""Zoho errors, sorted by what the caller should do about them."""

from __future__ import annotations


class ZohoError(Exception):
    def __init__(self, message: str, *, status: int | None = None, code: int | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class ZohoAuthError(ZohoError):
    """Credentials refused (bad client, revoked refresh token, no access to the org): stop now."""


class ZohoRequestError(ZohoError):
    """Zoho rejected the request itself (non-zero `code`, 4xx)."""


class ZohoNotFound(ZohoRequestError):
    """The item (or other record) does not exist."""


class ZohoTargetRefused(ZohoRequestError):
    """A Zoho URL of the connection points at an address this deployment may not call
    (app/integrations/targets.py): a verdict on the connection, never retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="forbidden_target")


class ZohoUnavailable(ZohoError):
    """5xx or network errors that outlasted the retries."""


class ZohoQuotaExhausted(ZohoError):
    """The daily budget is spent or Zoho asked for a wait too long to sit out: pause, resume later.

    `retry_after`: seconds until calls are worth trying again (the next daily window, or the
    Retry-After Zoho gave), None when nobody knows; the sync runner schedules the resume from it.
    """

    def __init__(self, message: str, *, retry_after: float | None, status: int | None = None,
                 code: int | str | None = None) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class ZohoImageUnavailable(ZohoError):
    """An item's image cannot be had: none, not servable, empty or too large. Not a failure of
    the call: the caller records `reason` against the item and carries on."""

    def __init__(self, reason: str, *, status: int | None = None, code: int | str | None = None) -> None:
        super().__init__(reason, status=status, code=code)
        self.reason = reason
