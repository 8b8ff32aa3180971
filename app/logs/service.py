"""The sync log: written in bulk by the sync, searched by operators."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.session import rows_touched
from app.models import SyncLog


def entry(*, level: str, message: str, connection_id: uuid.UUID | None = None, run_id: uuid.UUID | None = None,
          action: str | None = None, status: str | None = None, sku: str | None = None,
          zoho_item_id: str | None = None, store_id: int | None = None,
          details: dict[str, Any] | None = None) -> dict[str, Any]:
    """One log row, ready for `write_logs`."""
    return {"level": level, "message": message, "connection_id": connection_id, "run_id": run_id, "action": action,
            "status": status, "sku": sku, "zoho_item_id": zoho_item_id, "store_id": store_id, "details": details}


async def write_logs(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(SyncLog), rows)


@dataclass(frozen=True)
class LogFilter:
    connection_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    sku: str | None = None
    level: str | None = None
    action: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None


async def search_logs(session: AsyncSession, flt: LogFilter, *, limit: int, offset: int) -> tuple[int, list[SyncLog]]:
    """Newest first. Free text matches the message, SKU, Zoho item id and action, as a
    substring, case-insensitively; the text is a bound parameter with LIKE wildcards escaped."""
    query = _filtered(select(SyncLog), flt)
    total = await session.scalar(_filtered(select(func.count()).select_from(SyncLog), flt))
    newest_first = query.order_by(SyncLog.created_at.desc(), SyncLog.id.desc())
    rows = await session.scalars(newest_first.limit(limit).offset(offset))
    return int(total or 0), list(rows.all())


async def purge_logs(session: AsyncSession, *, older_than: datetime) -> int:
    result = await session.execute(delete(SyncLog).where(SyncLog.created_at < older_than))
    return rows_touched(result)


def _filtered(query: Select[Any], flt: LogFilter) -> Select[Any]:
    exact = {SyncLog.connection_id: flt.connection_id, SyncLog.run_id: flt.run_id, SyncLog.sku: flt.sku,
             SyncLog.level: flt.level, SyncLog.action: flt.action, SyncLog.status: flt.status}
    for column, value in exact.items():
        if value is not None:
            query = query.where(column == value)
    if flt.since is not None:
        query = query.where(SyncLog.created_at >= flt.since)
    if flt.until is not None:
        query = query.where(SyncLog.created_at < flt.until)
    if flt.q:
        pattern = "%" + flt.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(*(col.ilike(pattern, escape="\\") for col in
                                  (SyncLog.message, SyncLog.sku, SyncLog.zoho_item_id, SyncLog.action))))
    return query
