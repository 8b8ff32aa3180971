"""The error answers every route declares in the OpenAPI schema, with their bodies.

Each error is `{"error": <name>, "detail": <message>}` (422 adds `fields`); the schema says so,
and the fuzzing test (tests/test_openapi_fuzz.py) holds every route to what it declares.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    error: str = Field(description="The error's name, e.g. NotFound, Conflict, ServiceUnavailable")
    detail: str = Field(description="What went wrong, in words")


class ValidationErrorBody(ErrorBody):
    fields: list[str] = Field(default_factory=list, description="The fields refused, dotted paths")


_DESCRIPTIONS = {
    400: "The request cannot be carried out as sent",
    401: "The API token is missing or wrong",
    404: "No such object",
    409: "The object is in no state for this request, or its credentials cannot be read",
    413: "The body is larger than API_MAX_BODY_BYTES",
    422: "The request does not validate; `fields` names what was refused",
    429: "Too many requests; Retry-After says when to try again",
    502: "A vendor refused or failed the request made on the caller's behalf",
    503: "Postgres or Redis is unreachable; Retry-After says when to try again",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these status codes."""
    return {code: {"model": ValidationErrorBody if code == 422 else ErrorBody, "description": _DESCRIPTIONS[code]}
            for code in codes}


# Every /api/v1 route may answer these: auth and the body cap come first, then a body that is
# not JSON (400) or does not validate (422), then the database and Redis.
API_ERRORS = errors(400, 401, 413, 422, 503)
