"""The API application: create_app() and the lifespan that owns every pool and client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from pydantic import BaseModel
from sqlalchemy import func, select, text
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.deps import require_token
from app.api.failures import RETRY_AFTER_S, install_failure_handlers
from app.api.guard import EdgeGuard
from app.api.responses import API_ERRORS
from app.config import Settings, get_settings
from app.connections.router import router as connections_router
from app.core.context import AppContext, open_context
from app.core.crypto import CredentialsUnreadable
from app.core.errors import SkubridgeError
from app.core.logging import configure_logging
from app.images.router import router as images_router
from app.logs.router import router as logs_router
from app.models import SyncRun
from app.oauth.store import router as store_connect_router
from app.previews.router import router as previews_router
from app.syncs.router import router as syncs_router
from app.ui.common import error_page, is_console
from app.ui.router import install_console
from app.webhooks.router import INTAKE_ROUTE
from app.webhooks.router import router as webhooks_router


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


RUNS_BY_STATUS = Gauge("skubridge_runs", "Sync runs by status.", ["status"])
API_PREFIX = "/api/v1"
# A readiness probe must answer within the orchestrator's timeout even when Postgres or Redis
# is a black hole rather than a refused connection.
READY_CHECK_TIMEOUT_S = 2.0


def create_app(settings: Settings | None = None, *, ctx: AppContext | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = ctx is None
        app.state.ctx = ctx or await open_context(settings)
        try:
            yield
        finally:
            if hasattr(app.state, "webhook_intake"):
                await app.state.webhook_intake.aclose()
            if owned:
                await app.state.ctx.close()

    app = FastAPI(title="skubridge", version="0.1.0", lifespan=lifespan,
                  description="Keeps WooCommerce stores in step with Zoho Inventory.")
    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(require_token)], responses=API_ERRORS)
    for router in (connections_router, syncs_router, logs_router, webhooks_router, previews_router):
        api.include_router(router)
    app.include_router(api)
    app.router.routes.insert(0, INTAKE_ROUTE)  # Zoho's webhooks: first, and lean
    app.include_router(_ops_router())
    app.include_router(images_router)
    app.include_router(store_connect_router)  # the store's connect flows (/oauth/woocommerce, /oauth/wordpress)
    install_console(app)  # the operator console (/ui/): cookie sessions, outside /api/v1
    _install_error_handlers(app)
    install_failure_handlers(app)
    app.add_middleware(EdgeGuard, api_token=settings.api_token,
                       max_body_bytes=settings.api_max_body_bytes, token_prefix=API_PREFIX,
                       own_body_routes=[INTAKE_ROUTE])
    return app


def _ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=Health)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", response_model=Readiness,
                responses={503: {"model": Readiness, "description": "Postgres or Redis is unreachable"}})
    async def readyz(request: Request) -> JSONResponse:
        ctx: AppContext = request.app.state.ctx
        postgres, redis = await asyncio.gather(_bounded(_check_postgres(ctx)), _bounded(_check_redis(ctx)))
        checks = {"postgres": postgres, "redis": redis}
        if all(value == "ok" for value in checks.values()):
            return JSONResponse({"status": "ok", "checks": checks})
        return JSONResponse({"status": "unavailable", "checks": checks}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})

    @router.get("/metrics", response_class=PlainTextResponse,
                responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    async def metrics(request: Request) -> Response:
        ctx: AppContext = request.app.state.ctx
        async with ctx.sessionmaker() as session:
            rows = await session.execute(select(SyncRun.status, func.count()).group_by(SyncRun.status))
            for status, count in rows:
                RUNS_BY_STATUS.labels(status).set(count)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def _bounded(check: Awaitable[str]) -> str:
    try:
        async with asyncio.timeout(READY_CHECK_TIMEOUT_S):
            return await check
    except TimeoutError:
        return f"error: no answer within {READY_CHECK_TIMEOUT_S:g} s"


async def _check_postgres(ctx: AppContext) -> str:
    try:
        async with ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
        return f"error: {type(exc).__name__}"


async def _check_redis(ctx: AppContext) -> str:
    try:
        await ctx.redis.ping()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure, it does not raise
        return f"error: {type(exc).__name__}"


def _install_error_handlers(app: FastAPI) -> None:
    # A console request (/ui/) gets its error as a page with the same status (app/ui/common.py).
    @app.exception_handler(SkubridgeError)
    async def domain_error(request: Request, exc: SkubridgeError) -> Response:
        if is_console(request):
            return error_page(request, exc.status_code, exc.detail or exc.error)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = [f"{_location(e['loc'])}: {e['msg']}" for e in exc.errors()]
        if is_console(request):
            return error_page(request, 422, "; ".join(problems))
        return JSONResponse({"error": "ValidationError", "detail": "; ".join(problems),
                             "fields": [_location(e["loc"]) for e in exc.errors()]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_console(request):
            return error_page(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))
        names = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}
        name = names.get(exc.status_code, "HTTPError")
        return JSONResponse({"error": name, "detail": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(CredentialsUnreadable)
    async def unreadable(_: Request, exc: CredentialsUnreadable) -> JSONResponse:
        return JSONResponse({"error": "CredentialsUnreadable", "detail": str(exc)}, status_code=409)


def _location(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"
