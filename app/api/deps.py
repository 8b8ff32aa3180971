"""Request dependencies: the shared context, one transaction per request, the bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.guard import token_refusal
from app.core.context import AppContext
from app.core.errors import Unauthorized
from app.core.jobs import drop_jobs, flush_jobs

_bearer = HTTPBearer(auto_error=False, description="The service's API_TOKEN")


async def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Commit when the handler succeeds, roll back when it raises; jobs the handler deferred
    are enqueued only after the commit."""
    ctx: AppContext = request.app.state.ctx
    async with ctx.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            drop_jobs(session)
            raise
        await flush_jobs(session, ctx.redis)


async def require_token(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Declares the bearer scheme in the OpenAPI document. The edge guard (app/api/guard.py) has
    already refused a request without the token, before its body was read; this applies the
    same rule again for any route mounted outside it."""
    refusal = token_refusal(request.headers.get("authorization"),
                            request.app.state.ctx.settings.api_token.get_secret_value())
    if refusal:
        raise Unauthorized(refusal)


Ctx = Annotated[AppContext, Depends(get_ctx)]
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
