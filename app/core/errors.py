"""One error base class carrying its HTTP status; one handler turns it into
`{"error": <ErrorName>, "detail": <message>}`."""

from __future__ import annotations


class SkubridgeError(Exception):
    status_code: int = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def error(self) -> str:
        return type(self).__name__


class NotFound(SkubridgeError):
    status_code = 404


class Conflict(SkubridgeError):
    status_code = 409


class BadRequest(SkubridgeError):
    status_code = 400


class Unauthorized(SkubridgeError):
    status_code = 401


class UpstreamError(SkubridgeError):
    """A vendor refused or failed a request made on the operator's behalf."""

    status_code = 502


class PayloadTooLarge(SkubridgeError):
    status_code = 413
