"""The console's connections page: every connection with its last full run and webhook state,
and the manual "Add a connection" form.

The form posts the fields of `POST /api/v1/connections` (settings at their defaults: the
settings page, with its presets, comes next) and is checked by the same model
(ConnectionCreate) and the same service function, target checks included. A refusal answers
422 with the page again, each message at its field and the form filled in, except the
secrets: they never go back into a page and are typed again. Success answers 303 to the new
connection's status page.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import Ctx, Session
from app.connections.adapters import target_policy
from app.connections.schemas import ConnectionCreate, DataCenter
from app.connections.service import create_connection, list_connections
from app.syncs import service as syncs
from app.ui import session as auth
from app.ui.common import Form, Signed, console_router, templates
from app.ui.forms import CONNECTION_FIELDS, SECRETS, connection_body, connection_values, placed
from app.ui.views import webhook_state

router = console_router()

# Zoho's data centres as the form offers them: the region, then the domain Zoho's own sites use.
DATA_CENTRE_NAMES: dict[str, str] = {
    "com": "United States (zoho.com)", "eu": "Europe (zoho.eu)", "in": "India (zoho.in)",
    "com.au": "Australia (zoho.com.au)", "jp": "Japan (zoho.jp)", "ca": "Canada (zohocloud.ca)",
    "com.cn": "China (zoho.com.cn)", "sa": "Saudi Arabia (zoho.sa)",
}
assert set(DATA_CENTRE_NAMES) == set(DataCenter.__args__)  # type: ignore[attr-defined]  # Literal's args exist at run time


@router.get("/", response_class=HTMLResponse)
async def connections_page(request: Request, session: Signed, db: Session) -> Response:
    return await _page(request, session, db)


@router.post("/connections", response_class=HTMLResponse)
async def add_connection(request: Request, session: Signed, form: Form, db: Session, ctx: Ctx) -> Response:
    """Add a connection from the manual form: 303 to its status page, or 422 with the errors at
    their fields."""
    try:
        data = ConnectionCreate.model_validate(connection_body(form))
        connection = await create_connection(db, data, keyring=ctx.keyring, targets=target_policy(ctx))
    except (ValidationError, RequestValidationError) as exc:
        await db.rollback()
        errors, elsewhere = placed(exc.errors(), CONNECTION_FIELDS)
        return await _page(request, session, db, form=form, errors=errors, elsewhere=elsewhere, status_code=422)
    return RedirectResponse(f"/ui/connections/{connection.id}", status_code=303)


async def _page(request: Request, session: auth.ConsoleSession, db: AsyncSession, *, form: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, elsewhere: list[str] | None = None,
                status_code: int = 200) -> Response:
    connections = await list_connections(db)
    latest = await syncs.latest_full_runs(db, [c.id for c in connections])
    views = {v.connection_id: v for v in await syncs.run_views(db, list(latest.values()))}
    rows = [{"connection": c, "run": views.get(c.id), "webhook": webhook_state(c.webhook_enabled, c.webhook_active)}
            for c in connections]
    return templates.TemplateResponse(request, "connections.html", {
        "session": session, "rows": rows, "values": connection_values(form), "errors": errors or {},
        "elsewhere": elsewhere or [], "posted": form is not None, "secrets": SECRETS,
        "data_centres": DATA_CENTRE_NAMES}, status_code=status_code)
