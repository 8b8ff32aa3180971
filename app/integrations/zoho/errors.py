"""Zoho errors, sorted by what the caller should do about them. Each is one of the engine's
neutral errors (app/ports/errors.py), which is what the engine catches."""

from __future__ import annotations

from app.ports.errors import (
    AuthRefused,
    BadRequest,
    ForbiddenTarget,
    ImageUnavailable,
    NotFound,
    QuotaExhausted,
    ReconnectNeeded,
    Unavailable,
    VendorError,
)


class ZohoError(VendorError):
    party = "Zoho"


class ZohoAuthError(ZohoError, AuthRefused):
    """Credentials refused (bad client, revoked refresh token, no access to the org): stop now."""


class ZohoRefreshRefused(ZohoAuthError, ReconnectNeeded):
    """Zoho refused the refresh token itself (invalid_code): revoked, pushed out by a 21st token,
    or wrong. The operator must connect Zoho again."""


class ZohoRequestError(ZohoError, BadRequest):
    """Zoho rejected the request itself (non-zero `code`, 4xx)."""


class ZohoNotFound(ZohoRequestError, NotFound):
    """The item (or other record) does not exist."""


class ZohoTargetRefused(ZohoRequestError, ForbiddenTarget):
    """A Zoho URL of the connection points at an address this deployment may not call
    (app/integrations/targets.py): a verdict on the connection, never retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="forbidden_target")


class ZohoUnavailable(ZohoError, Unavailable):
    """5xx or network errors that outlasted the retries."""


class ZohoQuotaExhausted(ZohoError, QuotaExhausted):
    """The daily budget is spent or Zoho asked for a wait too long to sit out: pause, resume later.

    `retry_after`: seconds until calls are worth trying again (the next daily window, or the
    Retry-After Zoho gave), None when nobody knows; the sync runner schedules the resume from it.
    """


class ZohoImageUnavailable(ZohoError, ImageUnavailable):
    """An item's image cannot be had: none, not servable, empty or too large. Not a failure of
    the call: the caller records `reason` against the item and carries on."""
