"""Structured logs (structlog, JSON lines). Context such as run_id, connection_id, job_id and
sku is bound with `structlog.contextvars`.

No credential reaches a line (app/core/redaction.py): structlog's events and the standard
library's records (uvicorn, arq, third parties) are rendered by the same chain, which redacts
last. httpx and httpcore log every request URL at INFO/DEBUG, and a plain-HTTP store's URLs
carry OAuth 1.0a's key and signature; oauthlib logs signing material at DEBUG. They are held at
WARNING whatever LOG_LEVEL says: redaction would hide the secrets, but the lines say nothing
the service's own events don't.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.stdlib import ProcessorFormatter
from structlog.typing import Processor

from app.core.redaction import redact

_HANDLER = "skubridge"
QUIET_LOGGERS = ("httpx", "httpcore", "oauthlib")
# uvicorn gives these their own handlers; they are sent to the root's instead, to be redacted.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def configure_logging(level: str = "INFO") -> None:
    level = level.upper()
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    render: list[Processor] = [structlog.processors.format_exc_info, redact, structlog.processors.JSONRenderer()]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level, stamp, *render],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    formatter = ProcessorFormatter(
        foreign_pre_chain=[structlog.contextvars.merge_contextvars, structlog.stdlib.add_logger_name,
                           structlog.processors.add_log_level, stamp],
        processors=[ProcessorFormatter.remove_processors_meta, *render])
    _route_stdlib(formatter, level)


def _route_stdlib(formatter: logging.Formatter, level: str) -> None:
    """One root handler with the redacting formatter (replacing ours from an earlier call,
    leaving anyone else's, such as pytest's), and every library's records sent to it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != _HANDLER] + [handler]
    root.setLevel(level)
    for name in SERVER_LOGGERS:
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
