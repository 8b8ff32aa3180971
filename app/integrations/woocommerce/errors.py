"""WooCommerce errors: the store refused us (auth), refused the request (caller's fault), or
could not answer (operational, worth retrying later). Each is one of the engine's neutral errors
(app/ports/errors.py), which is what the engine catches."""

from __future__ import annotations

from app.ports.errors import AuthRefused, BadRequest, ForbiddenTarget, Unavailable, VendorError


class WooError(VendorError):
    party = "the store"


class WooAuthError(WooError, AuthRefused):
    """Wrong or insufficient credentials: retrying cannot help, the run stops at once."""


class WooRequestError(WooError, BadRequest):
    """The store rejected the request itself (4xx other than auth)."""


class WooUnavailable(WooError, Unavailable):
    """5xx, 429 or timeouts that outlasted the retries."""


class WooTargetRefused(WooRequestError, ForbiddenTarget):
    """The store's address is one this deployment may not call (app/integrations/targets.py):
    a verdict on the connection, never retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="forbidden_target")


class WooBatchTimeout(WooUnavailable):
    """A batch got no answer in time (a timeout, or a gateway's 504): sent again in smaller parts."""
