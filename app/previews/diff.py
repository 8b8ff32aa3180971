"""Field-level differences between what a sync would write and what the store holds.

Both sides come from the store adapter as comparable fields under the store's own names (the
draft through the same mapping the writer uses), with how each field compares. Numbers (prices,
weights, dimensions) compare by value: "19" and "19.00" are the same price to a merchant and to
the store. Text compares after trimming the whitespace the store adds around stored HTML and
reading HTML entities as the characters they stand for: a store that filters HTML keeps "&" as
"&amp;" (WordPress does, in names and descriptions), and a verify run must not take that for an
edit and write the same text again on every run.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from app.ports.store import Compare, Fields


def differences(want: Fields, have: Fields | None, comparison: Mapping[str, Compare]) -> list[dict[str, Any]]:
    """[{field, store, zoho}] for every field the write sets to something the store lacks."""
    held = have or {}
    changes = []
    for field, how in comparison.items():
        if field not in want:
            continue
        if have is not None and _same(how, want[field], held.get(field)):
            continue
        changes.append({"field": field, "store": held.get(field) if have is not None else None,
                        "zoho": want[field]})
    return changes


def _same(how: Compare, ours: Any, theirs: Any) -> bool:
    if how == Compare.NUMBER:
        return _number(ours) == _number(theirs)
    if how == Compare.TEXT:
        return _text(ours) == _text(theirs)
    if how == Compare.COUNT and theirs is not None and ours is not None:
        return _number(ours) == _number(theirs)
    return bool(ours == theirs)


def _text(value: Any) -> str:
    return html.unescape(str(value or "")).strip()


def _number(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).normalize()
    except InvalidOperation:
        return None
