"""What the console shows of a run: the RunRead counters, the status in words, which controls
apply. One function feeds both the first render and every server-sent update, so the page
reads the same either way."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.api.params import iso_timestamp, storable_text
from app.logs.service import LogFilter
from app.models import ACTIVE_RUN_STATUSES, RunStatus
from app.syncs.schemas import RunRead

STATUS_WORDS = {
    RunStatus.QUEUED: "Queued: waiting for a worker",
    RunStatus.RUNNING: "Running",
    RunStatus.PAUSING: "Pausing: recording the batch in flight",
    RunStatus.PAUSED: "Paused",
    RunStatus.CANCELLING: "Cancelling: recording the batch in flight",
    RunStatus.CANCELLED: "Cancelled",
    RunStatus.COMPLETED: "Completed",
    RunStatus.FAILED: "Failed",
}
COUNTERS = ("total", "synced", "failed", "pending", "skipped")


def run_snapshot(run: RunRead | None) -> dict[str, Any]:
    """The status page's live state. `percent` is floored, so 100 means every item is done;
    `controls` says which buttons apply now (the services refuse the rest with a 409 anyway)."""
    if run is None:
        return {"run_id": None, "status": "none", "words": "No sync has run yet", "percent": 0, "mode": None,
                **dict.fromkeys(COUNTERS, 0), "controls": _controls(None)}
    words = STATUS_WORDS.get(RunStatus(run.status), run.status)
    if run.reason and run.status in (RunStatus.PAUSED, RunStatus.FAILED, RunStatus.QUEUED):
        words = f"{words} ({run.reason})"
    return {"run_id": str(run.id), "status": run.status, "words": words, "percent": int(run.progress),
            "mode": run.mode, **{name: getattr(run, name) for name in COUNTERS}, "controls": _controls(run.status)}


def _controls(status: str | None) -> dict[str, bool]:
    active = status in ACTIVE_RUN_STATUSES
    return {"start": not active, "verify": not active,
            "pause": status in (RunStatus.QUEUED, RunStatus.RUNNING),
            "resume": status == RunStatus.PAUSED,
            "cancel": status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.PAUSING)}


def webhook_state(enabled: bool, active: bool) -> str:
    if active:
        return "Active"
    return "Enabled, not active" if enabled else "Off"


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FIELDS = ("q", "level", "action", "status", "from", "to")


def log_filter(connection_id: uuid.UUID, params: Mapping[str, str]) -> tuple[LogFilter, dict[str, str]]:
    """The log page's filters, read from its query string as `GET /api/v1/logs` reads them
    (the same levels, ISO 8601 times, UTC when no offset), scoped to one connection. Errors are
    returned per field, to be shown at the field, rather than raised: the page answers 400 with
    the form still filled in."""
    values = {name: params.get(name, "").strip() for name in LOG_FIELDS}
    errors: dict[str, str] = {}
    for name in ("q", "action", "status"):
        try:
            storable_text(values[name])
        except ValueError as exc:
            errors[name] = str(exc)
        if len(values[name]) > 200:
            errors[name] = "at most 200 characters"
    if values["level"] and values["level"] not in LOG_LEVELS:
        errors["level"] = f"one of {', '.join(LOG_LEVELS)}"
    times: dict[str, datetime | None] = {}
    for name in ("from", "to"):
        try:
            times[name] = iso_timestamp(values[name]) if values[name] else None
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        return LogFilter(connection_id=connection_id), errors
    return LogFilter(connection_id=connection_id, q=values["q"] or None, level=values["level"] or None,
                     action=values["action"] or None, status=values["status"] or None,
                     since=times["from"], until=times["to"]), errors
