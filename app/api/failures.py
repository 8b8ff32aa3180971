"""What the API answers when the fault is not the caller's: an outage, or a bug.

Never Starlette's plain-text 500, and never a traceback to the client:

- Postgres or Redis unreachable (connection refused, DNS failure, timeout, connection lost,
  Postgres shutting down or out of connections, Redis refusing) is 503
  `{"error": "ServiceUnavailable", "detail": "<which> is unreachable"}` with `Retry-After`, on
  every route: the request may well succeed later, so clients and load balancers back off and
  come back. This covers the request's commit too (`get_session` commits inside the request).
- Anything else unexpected is 500 `{"error": "InternalError", "detail": ..., "request_id": ...}`;
  the traceback goes to the log under that request id.
"""

from __future__ import annotations

import socket
import traceback
import uuid

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = structlog.get_logger(__name__)
RETRY_AFTER_S = 5  # a restart or failover is seconds away; a sooner retry would only add load
# SQLSTATEs that mean "not now" rather than "not this": connection exceptions (class 08), too
# many connections, and the server shutting down, crashed or still starting.
_UNAVAILABLE_SQLSTATES = ("08", "53300", "57P01", "57P02", "57P03")
# What asyncpg raises while connecting arrives unwrapped, as the OS's own error.
_NETWORK_ERRORS = (ConnectionError, socket.gaierror, TimeoutError)


def install_failure_handlers(app: FastAPI) -> None:
    for error in (DBAPIError, PoolTimeout, RedisError, *_NETWORK_ERRORS):
        app.add_exception_handler(error, _outage)
    # Exception itself goes to Starlette's outermost middleware: it answers with this handler,
    # then re-raises so the server logs the crash too.
    app.add_exception_handler(Exception, _internal_error)


async def _outage(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DBAPIError) and not _database_unavailable(exc):
        return await _internal_error(request, exc)  # a refused statement is a bug, not an outage
    service = _service_of(exc)
    log.warning("api.service_unavailable", service=service, method=request.method, path=request.url.path,
                error=f"{type(exc).__name__}: {exc}")
    return JSONResponse({"error": "ServiceUnavailable", "detail": f"{service} is unreachable"},
                        status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = uuid.uuid4().hex
    log.error("api.internal_error", request_id=request_id, method=request.method, path=request.url.path,
              exc_info=exc)
    return JSONResponse({"error": "InternalError", "request_id": request_id,
                         "detail": f"an unexpected error; the service log has it under request id {request_id}"},
                        status_code=500)


def _database_unavailable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return (getattr(exc.orig, "sqlstate", None) or "").startswith(_UNAVAILABLE_SQLSTATES)


def _service_of(exc: Exception) -> str:
    """Which backing service failed. A bare OSError says nothing of it, but the frames it passed
    through do: the database driver's, or not."""
    if isinstance(exc, RedisError):
        return "Redis"
    if isinstance(exc, SQLAlchemyError):
        return "the database"
    modules = (frame.f_globals.get("__name__", "") for frame, _ in traceback.walk_tb(exc.__traceback__))
    if any(module.startswith(("sqlalchemy.", "asyncpg.")) for module in modules):
        return "the database"
    return "a service the API depends on"
