"""The console's settings page of a connection: its `settings` (the API's ConnectionSettings) as
a form, and the README's presets as one-click choices. Secrets are not on this page.

Saving sends the whole form as `PATCH /api/v1/connections/{id}` would receive `{"settings":
{...}}`: the same model (ConnectionUpdate) and the same service function
(app/connections/service.py `update_connection`). A refusal answers 422 with the form as
posted and each message at its field; nothing is stored. An empty number is an error at its
field, never "keep the old value". Warehouses empty: all of them; a schedule without a cron
expression: none.

Presets are applied on the server: a preset's button posts its name and its values are
PATCHed at once, through the same path, merged into the stored settings (every setting the
preset does not name is kept), then the page shows the result. Applying one discards edits not
yet saved on the page; the README's "Ongoing (webhook)" preset also asks for real-time sync,
which stays a separate step on the status page (it calls Zoho).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, get_args

from annotated_types import Ge, Le
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from app.api.deps import Ctx, Session
from app.connections.adapters import target_policy
from app.connections.presets import PRESETS, Preset, preset
from app.connections.schemas import ConnectionSettings, ConnectionUpdate, ScheduleMode
from app.connections.service import get_connection, update_connection
from app.core.context import AppContext
from app.models import Connection
from app.ui import session as auth
from app.ui.common import Form, Signed, console_router, templates
from app.ui.forms import many, placed, text

router = console_router()


@dataclass(frozen=True)
class Setting:
    """One setting on the form: `kind` is its widget (check, choice, checks, number, text)."""

    name: str
    label: str
    kind: str
    hint: str = ""

    @property
    def options(self) -> tuple[str, ...]:
        annotation = ConnectionSettings.model_fields[self.name].annotation
        inner = get_args(annotation)[0] if self.kind == "checks" else annotation
        return tuple(get_args(inner))

    @property
    def range(self) -> str:
        """"1 to 100", from the model's bounds."""
        metadata = ConnectionSettings.model_fields[self.name].metadata
        low = next(m.ge for m in metadata if isinstance(m, Ge))
        high = next(m.le for m in metadata if isinstance(m, Le))
        return f"{low} to {high}"


GROUPS: tuple[tuple[str, tuple[Setting, ...]], ...] = (
    ("What is synced", (
        Setting("sync_fields", "Fields to sync", "checks", "The SKU is always the match key."),
        Setting("create_missing_products", "Create products missing from the store", "check"),
        Setting("create_missing_variations", "Create variations missing from the store", "check"),
        Setting("new_product_status", "Status of new products", "choice"),
        Setting("warehouse_ids", "Warehouses", "text",
                "Zoho warehouse ids, separated by commas; empty: all warehouses."),
        Setting("stock_figure", "Stock figure", "choice", "Zoho's available stock, or its actual available stock."),
        Setting("retired_variations", "Retired variations", "choice",
                "A variation whose Zoho item was deleted, made inactive or moved out of its group: private = out "
                "of stock and hidden; outofstock = out of stock, still shown. Never deleted."),
        Setting("sku_match", "SKU match", "choice", "case_insensitive links \"abc\" to \"ABC\"."),
    )),
    ("Images", (
        Setting("image_upload", "Image upload", "choice",
                "media: to the WordPress media library (needs the application password); src: the store "
                "downloads them from this service; auto: media when the WordPress credentials are set."),
        Setting("image_max_edge", "Longest edge (px)", "number"),
        Setting("image_format", "Image format", "choice", "PNGs with transparency stay PNG."),
        Setting("image_quality", "Image quality", "number"),
    )),
    ("Pace", (
        Setting("batch_size", "Batch size", "number", "Objects per store batch request."),
        Setting("store_concurrency", "Store concurrency", "number", "Batches in flight at once against the store."),
        Setting("catchup_interval_minutes", "Catch-up interval (minutes)", "number",
                "With real-time sync on: how often a catch-up looks for changes whose webhook went missing."),
    )),
)
SETTINGS = tuple(s for _, group in GROUPS for s in group)
SCHEDULE_FIELDS = ("schedule.cron", "schedule.mode", "schedule.timezone")
FIELDS = tuple(s.name for s in SETTINGS) + SCHEDULE_FIELDS
# Every setting is on the form (a new one fails here until it is given a widget).
assert {s.name for s in SETTINGS} | {"schedule"} == set(ConnectionSettings.model_fields)


@router.get("/connections/{connection_id}/settings", response_class=HTMLResponse)
async def settings_page(request: Request, connection_id: uuid.UUID, session: Signed, db: Session,
                        saved: bool = False, applied: str | None = None) -> Response:
    connection = await get_connection(db, connection_id)
    done = "Settings saved." if saved else None
    if applied and (chosen := preset(applied)):
        done = f"Preset “{chosen.label}” applied. {chosen.then}"
    return _page(request, session, connection, _stored_values(connection.settings), done=done)


@router.post("/connections/{connection_id}/settings/save", response_class=HTMLResponse)
async def save_settings(request: Request, connection_id: uuid.UUID, session: Signed, _: Form, db: Session,
                        ctx: Ctx) -> Response:
    """Save the whole form: 303 back to the page, or 422 with the errors at their fields."""
    connection = await get_connection(db, connection_id)
    form = await request.form()  # the same parsed form; `Form` checked its CSRF token
    try:
        await _patch(db, ctx, connection, _posted_settings(form))
    except (ValidationError, RequestValidationError) as exc:
        await db.rollback()
        errors, elsewhere = placed(exc.errors(), FIELDS, prefix="settings.")
        connection = await get_connection(db, connection_id)
        return _page(request, session, connection, _posted_values(form), errors=errors, elsewhere=elsewhere,
                     status_code=422)
    return RedirectResponse(f"/ui/connections/{connection_id}/settings?saved=true", status_code=303)


@router.post("/connections/{connection_id}/settings/preset", response_class=HTMLResponse)
async def apply_preset(request: Request, connection_id: uuid.UUID, session: Signed, form: Form, db: Session,
                       ctx: Ctx) -> Response:
    """Apply a preset's values at once (merged into the stored settings): 303 back to the page."""
    connection = await get_connection(db, connection_id)
    chosen = preset(text(form, "preset"))
    if chosen is None:
        return _page(request, session, connection, _stored_values(connection.settings),
                     elsewhere=["Choose one of the presets shown."], status_code=400)
    try:
        await _patch(db, ctx, connection, chosen.settings)
    except (ValidationError, RequestValidationError) as exc:  # a stored setting today's rules refuse
        await db.rollback()
        connection = await get_connection(db, connection_id)
        errors, elsewhere = placed(exc.errors(), FIELDS, prefix="settings.")
        return _page(request, session, connection, _stored_values(connection.settings), errors=errors,
                     elsewhere=elsewhere, status_code=422)
    return RedirectResponse(f"/ui/connections/{connection_id}/settings?applied={chosen.key}", status_code=303)


async def _patch(db: AsyncSession, ctx: AppContext, connection: Connection, settings: dict[str, Any]) -> None:
    data = ConnectionUpdate.model_validate({"settings": settings})
    await update_connection(db, connection, data, keyring=ctx.keyring, targets=target_policy(ctx))


def _posted_settings(form: FormData) -> dict[str, Any]:
    """The form as the `settings` object of a PATCH: every setting sent."""
    out = _posted_values(form)
    out["warehouse_ids"] = [w for w in re.split(r"[\s,]+", out["warehouse_ids"]) if w] or None
    schedule = {name.removeprefix("schedule."): out.pop(name) for name in SCHEDULE_FIELDS}
    out["schedule"] = {**schedule, "timezone": schedule["timezone"] or "UTC"} if schedule["cron"] else None
    return out


def _stored_values(settings: dict[str, Any]) -> dict[str, Any]:
    """What the form shows of the stored settings (the model's defaults for any not stored)."""
    current = ConnectionSettings.model_validate(settings).model_dump(mode="json")
    values: dict[str, Any] = {s.name: current[s.name] for s in SETTINGS}
    values["warehouse_ids"] = ", ".join(current["warehouse_ids"] or [])
    schedule = current["schedule"] or {"cron": "", "mode": "standard", "timezone": "UTC"}
    return values | {f"schedule.{k}": schedule[k] for k in ("cron", "mode", "timezone")}


def _posted_values(form: FormData) -> dict[str, Any]:
    """The form as posted, field by field (what the page shows back with its errors)."""
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.kind == "check":
            values[setting.name] = setting.name in form
        elif setting.kind == "checks":
            values[setting.name] = many(form, setting.name)
        else:
            values[setting.name] = text(form, setting.name)
    return values | {name: text(form, name) for name in SCHEDULE_FIELDS}


def _shown(chosen: Preset) -> dict[str, Any]:
    """A preset as its button and the values it sets, in words ("sync_fields: stock, low_stock")."""
    def words(value: Any) -> str:
        return ", ".join(value) if isinstance(value, list) else str(value).lower() if isinstance(value, bool) else value

    return {"key": chosen.key, "label": chosen.label, "then": chosen.then,
            "shown": [(name, words(value)) for name, value in chosen.settings.items()]}


def _page(request: Request, session: auth.ConsoleSession, connection: Connection, values: dict[str, Any], *,
          errors: dict[str, str] | None = None, elsewhere: list[str] | None = None, done: str | None = None,
          status_code: int = 200) -> Response:
    return templates.TemplateResponse(request, "settings.html", {
        "session": session, "connection": connection, "groups": GROUPS, "values": values, "errors": errors or {},
        "elsewhere": elsewhere or [], "done": done, "presets": [_shown(p) for p in PRESETS],
        "schedule_modes": get_args(ScheduleMode)}, status_code=status_code)
