"""What the console shows of a run: the RunRead counters, the status in words, which controls
apply. One function feeds both the first render and every server-sent update, so the page
reads the same either way.

The connection's link state (app/connections/links.py) is part of it: while Zoho or the store is
not linked, or Zoho needs reconnecting, the buttons that start something (Start sync, Verify
store, Retry failed; Start preview on the preview page) are disabled with a short reason
(`blocked`) next to them. The services still refuse such a start with a 409: the page only
says so before the click. The run's reason is left out of the status words when the page
already shows it: the reconnect banner quotes Zoho's refusal, and a run refused for the link
state says what `blocked` says."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from app.api.params import iso_timestamp, storable_text
from app.connections.links import LinkState
from app.logs.service import LogFilter
from app.models import ACTIVE_RUN_STATUSES, RunKind, RunStatus
from app.syncs.schemas import RecentItem, RunRead

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


def run_snapshot(run: RunRead | None, recent: Sequence[RecentItem] = (), *, failed_only: bool = False,
                 link: LinkState | None = None) -> dict[str, Any]:
    """The status page's live state. `percent` is floored, so 100 means every item is done;
    `controls` says which buttons apply now (the services refuse the rest with a 409 anyway),
    `blocked` why the start buttons do not (empty when they may; `link` is the connection's
    link state, None: not known, nothing blocked); `recent` is the "Recently synced" list
    (failed items only with `failed_only`), times in ISO 8601 for the browser to show in its
    own time zone."""
    rows = [recent_row(item) for item in recent]
    blocked = start_blocker(link)
    if run is None:
        return {"run_id": None, "status": "none", "words": "No sync has run yet", "percent": 0, "mode": None,
                "kind": None, "about": "", **dict.fromkeys(COUNTERS, 0),
                "controls": _controls(None, failed=0, blocked=bool(blocked)), "blocked": blocked,
                "recent": rows, "failed_only": failed_only}
    words = STATUS_WORDS.get(RunStatus(run.status), run.status)
    if (run.reason and run.status in (RunStatus.PAUSED, RunStatus.FAILED, RunStatus.QUEUED)
            and not _shown_elsewhere(run.reason, link)):
        words = f"{words} ({run.reason})"
    return {"run_id": str(run.id), "status": run.status, "words": words, "percent": int(run.progress),
            "mode": run.mode, "kind": run.kind, "about": _about(run), **{name: getattr(run, name) for name in COUNTERS},
            "controls": _controls(run.status, failed=run.failed, blocked=bool(blocked)), "blocked": blocked,
            "recent": rows, "failed_only": failed_only}


def start_blocker(link: LinkState | None) -> str:
    """Why nothing may be started on the connection now, short (the banner above says the
    rest); empty when runs and previews may start."""
    if link is None or link.ready:
        return ""
    if link.needs_reconnect:
        return "Zoho needs reconnecting: syncs and previews start once it is."
    if not link.zoho_linked:
        return "Zoho is not linked yet: syncs and previews start once it is."
    return "The store is not linked yet: syncs and previews start once it is (Store access)."


def _shown_elsewhere(reason: str, link: LinkState | None) -> bool:
    """The run's reason is on the page already: the reconnect banner's refusal, or the link
    state a queued run was refused for (said by `blocked`)."""
    if link is None:
        return False
    return bool(link.reconnect_reason and link.reconnect_reason in reason) or reason == link.refusal


def _about(run: RunRead) -> str:
    """Says so when the run is a retry of failed items (the page shows that run once asked for)."""
    if run.kind != RunKind.RETRY:
        return ""
    return f"A retry of the failed items of sync {str(run.retry_of)[:8]}" if run.retry_of else "A retry of failed items"


def recent_row(item: RecentItem) -> dict[str, Any]:
    """One "Recently synced" row as the page and the live feed carry it."""
    return {"id": item.id, "sku": item.sku or "", "name": item.name or "", "action": item.action,
            "status": item.status, "error": item.error or "", "at": item.at.isoformat()}


def _controls(status: str | None, *, failed: int, blocked: bool = False) -> dict[str, bool]:
    active = status in ACTIVE_RUN_STATUSES
    return {"start": not active and not blocked, "verify": not active and not blocked,
            "pause": status in (RunStatus.QUEUED, RunStatus.RUNNING),
            "resume": status == RunStatus.PAUSED,
            "cancel": status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.PAUSING),
            "retry": status is not None and not active and failed > 0 and not blocked}


def webhook_state(enabled: bool, active: bool) -> str:
    if active:
        return "Active"
    return "Enabled, not active" if enabled else "Off"


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FIELDS = ("q", "level", "action", "status", "from", "to")


def filter_text_problem(value: str) -> str | None:
    """What is wrong with a filter's text, if anything: a character Postgres cannot hold, or
    more than 200 characters."""
    if len(value) > 200:
        return "at most 200 characters"
    try:
        storable_text(value)
    except ValueError as exc:
        return str(exc)
    return None


def log_filter(connection_id: uuid.UUID, params: Mapping[str, str]) -> tuple[LogFilter, dict[str, str]]:
    """The log page's filters, read from its query string as `GET /api/v1/logs` reads them
    (the same levels, ISO 8601 times, UTC when no offset), scoped to one connection. Errors are
    returned per field, to be shown at the field, rather than raised: the page answers 400 with
    the form still filled in."""
    values = {name: params.get(name, "").strip() for name in LOG_FIELDS}
    errors: dict[str, str] = {}
    for name in ("q", "action", "status"):
        if problem := filter_text_problem(values[name]):
            errors[name] = problem
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


def paging(params: Mapping[str, str], *, offset: int, size: int, total: int, last: int) -> dict[str, Any]:
    """A paged list's range and links (app/ui/templates/_paging.html): `shown` is the first and
    `last` row numbers on this page; Previous and Next keep the filters in `params` that have a
    value and move `offset` by a page of `size`."""
    kept = {k: v for k, v in params.items() if v}

    def link(at: int) -> str:
        return f"?{urlencode({**kept, 'offset': at})}"

    return {"offset": offset, "total": total, "shown": (offset + 1, last),
            "previous": link(max(offset - size, 0)) if offset > 0 else None,
            "next": link(offset + size) if offset + size < total else None}
