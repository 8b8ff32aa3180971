"""Parameter types for what callers send: text Postgres can store, timestamps in ISO 8601.

Postgres refuses a NUL character and lone UTF-16 surrogates (which JSON's `\\ud800` escapes can
carry) in text; left to the database they would surface as a 500. They are refused at the edge
as a 422 naming the field instead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, BeforeValidator


def storable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def storable(value: Any, path: str = "") -> Any:
    """`storable_text` over every string in a JSON-like value (keys included); the error names
    the dotted path of the value refused."""
    try:
        if isinstance(value, str):
            return storable_text(value)
    except ValueError as exc:
        raise ValueError(f"{path or 'body'}: {exc}") from None
    if isinstance(value, dict):
        return {storable(k, path): storable(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(value)]
    return value


def iso_timestamp(value: Any) -> Any:
    """ISO 8601 only (pydantic alone would also take a number as Unix time); a time without
    an offset is read as UTC."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError("expected an ISO 8601 date-time, e.g. 2026-12-01T00:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


Text = Annotated[str, AfterValidator(storable_text)]
SearchText = Annotated[str, Query(max_length=200), AfterValidator(storable_text)]
Timestamp = Annotated[datetime, BeforeValidator(iso_timestamp)]
