"""The console's preview page: "Start preview" queues one through the same service as
`POST /api/v1/connections/{id}/preview` (app/previews/service.py), then the page shows it: its
state, why it failed if it did, and once completed a table of SKU, action, field, store value and
Zoho value, filterable by action and paged by item.

Choices the issue left open:
- The page shows the connection's newest preview, or the one named by `?preview=` (Start
  preview sends the browser there, so paging and filtering stay on it even if another preview
  is started meanwhile).
- While it is queued or running, console.js fetches the page again every two seconds and swaps
  in the result section when the state changes: no reload, the focus stays where it is, and the
  status line is a polite live region. Without JavaScript, a "Refresh" link does the same.
- One row per field that would change; an item with no change (unchanged, skip) has one row
  with its reason in the action column. Paging counts items (PREVIEW_PAGE_SIZE), as the API's
  `limit`/`offset` do, so an item's fields are never split across two pages.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import Ctx, Session
from app.api.pagination import Offset
from app.connections.links import state_of
from app.connections.service import get_connection
from app.core.errors import NotFound
from app.models import ItemAction, Preview
from app.previews import service as previews
from app.ui.common import Form, Signed, console_router, control, templates
from app.ui.views import paging, start_blocker

PREVIEW_PAGE_SIZE = 50
# A value longer than this shows its start, the rest behind "Show all" (descriptions are long).
SHORT_VALUE = 160
ACTIONS = tuple(str(a) for a in ItemAction)
PREVIEW_WORDS = {"queued": "Queued: waiting for a worker", "running": "Building: reading Zoho and the store",
                 "completed": "Completed", "failed": "Failed"}
router = console_router()


@router.get("/connections/{connection_id}/preview", response_class=HTMLResponse)
async def preview_page(request: Request, connection_id: uuid.UUID, session: Signed, db: Session, ctx: Ctx,
                       preview: uuid.UUID | None = None, action: str = "", offset: Offset = 0,
                       notice: str | None = None) -> Response:
    """The newest preview (or `preview`), its items filtered by `action`, PREVIEW_PAGE_SIZE a
    page; an unknown action answers 400 with the error at its field. Start preview is disabled,
    with the reason, while the connection is not linked or Zoho needs reconnecting (the
    service refuses it then anyway)."""
    connection = await get_connection(db, connection_id)
    shown = await _preview_of(db, connection_id, preview)
    action = action.strip().lower()
    error = None if not action or action in ACTIONS else f"one of {', '.join(ACTIONS)}"
    items = previews.preview_items(shown, {"action": action or None}) if shown and not error else []
    base = {"preview": str(shown.id)} if shown else {}

    return templates.TemplateResponse(request, "preview.html", {
        "session": session, "connection": connection, "preview": shown, "error": error, "action": action,
        "notice": notice, "blocked": start_blocker(state_of(connection, ctx.keyring)),
        "unfinished": bool(shown and shown.status in ("queued", "running")),
        "actions": ACTIONS, "words": PREVIEW_WORDS, "summary": (shown.summary or {}) if shown else {},
        "rows": table_rows(items[offset: offset + PREVIEW_PAGE_SIZE]),
        **paging(base | {"action": action}, offset=offset, size=PREVIEW_PAGE_SIZE, total=len(items),
                 last=min(offset + PREVIEW_PAGE_SIZE, len(items))),
        "here": f"?{urlencode(base)}" if base else ""}, status_code=400 if error else 200)


@router.post("/connections/{connection_id}/preview/start")
async def start(connection_id: uuid.UUID, _: Form, db: Session, ctx: Ctx) -> Response:
    """Start preview: queued in this request's transaction, its job enqueued after commit."""
    started: list[Preview] = []

    async def act() -> None:
        started.append(await previews.start_preview(db, await get_connection(db, connection_id),
                                                    keyring=ctx.keyring))

    back = f"/ui/connections/{connection_id}/preview"
    answer = await control(db, connection_id, act, back=back)
    if started:
        return RedirectResponse(f"{back}?preview={started[0].id}", status_code=303)
    return answer


async def _preview_of(db: AsyncSession, connection_id: uuid.UUID, preview_id: uuid.UUID | None) -> Preview | None:
    if preview_id is None:
        return await previews.latest_preview(db, connection_id)
    found = await previews.get_preview(db, preview_id)
    if found.connection_id != connection_id:
        raise NotFound(f"no preview {preview_id}")
    return found


def table_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per field an item would change; one row for an item that changes nothing."""
    rows: list[dict[str, Any]] = []
    for item in items:
        head = {"sku": item.get("sku") or "", "name": item.get("name") or "", "action": item.get("action"),
                "reason": item.get("reason"), "zoho_item_id": item.get("zoho_item_id")}
        changes = item.get("changes") or [{"field": None, "store": None, "zoho": None}]
        rows.extend({**head, "field": c["field"], "store": shown_value(c["store"]), "zoho": shown_value(c["zoho"]),
                     "first": i == 0} for i, c in enumerate(changes))
    return rows


def shown_value(value: Any) -> dict[str, Any] | None:
    """A value as text (lists and objects as compact JSON), cut at SHORT_VALUE; None is "not set"."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return {"text": text, "short": text[:SHORT_VALUE] if len(text) > SHORT_VALUE else None}
