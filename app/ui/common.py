"""What every console page shares: the templates, the session and CSRF dependencies, and the
post/redirect/get answer of a control. Each page lives in its own module with its own router
(app/ui/router.py lists them); they all import from here."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import Ctx
from app.core.errors import SkubridgeError
from app.ui import session as auth

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def utc_time(value: datetime, *, seconds: bool = True, relative: bool = False) -> Markup:
    """A time as every page shows it: a `<time datetime>` whose text is the UTC time, which
    console.js shows in the browser's time zone (or as "5 min ago" when `relative`), keeping the
    exact time as its title."""
    text = value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")
    return Markup(f'<time{" data-relative" if relative else ""} datetime="{escape(value.isoformat())}">'
                  f"{escape(text)}</time>")


templates.env.globals["utc_time"] = utc_time


class SignedOut(Exception):
    """No valid session: pages redirect to the sign-in page."""


class CsrfRefused(Exception):
    """A state-changing form without this session's CSRF token."""


async def signed_in(request: Request, ctx: Ctx) -> auth.ConsoleSession:
    session = auth.read_session(request, ctx.settings)
    if session is None:
        raise SignedOut
    return session


Signed = Annotated[auth.ConsoleSession, Depends(signed_in)]


async def checked_form(request: Request, session: Signed) -> dict[str, Any]:
    """The posted form, once its CSRF token matches the session's."""
    form = dict(await request.form())
    if not auth.csrf_ok(session, form.get("csrf")):
        raise CsrfRefused
    return form


Form = Annotated[dict[str, Any], Depends(checked_form)]


# The words a console page uses for an error status; anything else is "Something went wrong".
ERROR_TITLES = {400: "Bad request", 404: "Not found", 405: "Not allowed", 409: "Not possible now",
                413: "Too large", 422: "Not valid", 429: "Too many tries"}


def is_console(request: Request) -> bool:
    """A request for a console page (its errors are pages, not the API's JSON)."""
    return request.url.path == "/ui" or request.url.path.startswith("/ui/")


def error_page(request: Request, status_code: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    """An error of a console request as a page: the same status as the API would answer, the
    detail in words, and a way back. The session, if any, keeps the header's Sign out."""
    ctx = getattr(request.app.state, "ctx", None)  # none before the lifespan has opened it
    session = auth.read_session(request, ctx.settings) if ctx is not None else None
    title = ERROR_TITLES.get(status_code, "Something went wrong")
    return templates.TemplateResponse(request, "error.html", {"session": session, "title": title, "detail": detail},
                                      status_code=status_code, headers=headers)


def console_router() -> APIRouter:
    """A page module's router: under /ui, out of the OpenAPI document (that is the REST API's
    contract, not the console's)."""
    return APIRouter(prefix="/ui", include_in_schema=False)


async def control(db: AsyncSession, connection_id: uuid.UUID, act: Callable[[], Awaitable[None]],
                  *, back: str | None = None) -> Response:
    """Run a control and answer 303 back to the page (`back`, the status page by default); a
    refusal (409: already active, not pausable, ...) is shown there as a notice. A refusal
    raised inside the request transaction must not commit: it is rolled back here."""
    target = back or f"/ui/connections/{connection_id}"
    try:
        await act()
    except SkubridgeError as exc:
        await db.rollback()
        sep = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{sep}notice={quote(exc.detail or exc.error)}", status_code=303)
    return RedirectResponse(target, status_code=303)
