"""The drift report: what the latest verify run of a connection found the store to differ in.

It is read from the run itself: the items a verify run repaired carry their `changes`, those it
created again are its creates that carry changes (a product new in Zoho carries none), and the
run's `verify` log line holds what planning counted (records compared, orphans).
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.models import ItemAction, ItemStatus, RunMode, SyncLog, SyncRun, SyncRunItem


class Orphan(BaseModel):
    store_id: int
    sku: str


class DriftRead(BaseModel):
    run_id: uuid.UUID
    run_status: str
    created_at: datetime
    finished_at: datetime | None
    checked: int  # store records (products, variable products, variations) compared with Zoho
    repaired: int  # objects written because fields differed (restored from the trash included)
    fields_repaired: dict[str, int]  # field name (the store's) → objects it was repaired on
    recreated: int  # objects deleted in the store and created again
    failed: int  # repairs and re-creations the store refused (see the run's items)
    orphan_count: int  # store products whose SKU no Zoho item carries: listed, never deleted
    orphans: list[Orphan]  # the first 1000 of them


async def latest_drift(session: AsyncSession, connection_id: uuid.UUID) -> DriftRead:
    """The latest planned verify run's report; NotFound when the connection has none."""
    found = (await session.execute(
        select(SyncRun, SyncLog.details).join(SyncLog, (SyncLog.run_id == SyncRun.id) & (SyncLog.action == "verify"))
        .where(SyncRun.connection_id == connection_id, SyncRun.mode == RunMode.VERIFY)
        .order_by(SyncRun.created_at.desc(), SyncRun.id).limit(1))).first()
    if found is None:
        raise NotFound(f"connection {connection_id} has no verify run yet; start one with "
                       'POST /connections/{id}/syncs {"mode": "verify"}')
    run, details = found
    rows = await session.execute(select(SyncRunItem.action, SyncRunItem.status, SyncRunItem.changes).where(
        SyncRunItem.run_id == run.id, func.jsonb_typeof(SyncRunItem.changes) == "array"))  # not JSON null
    fields: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for action, status, changes in rows:
        if status == ItemStatus.FAILED:
            counts["failed"] += 1
        elif status != ItemStatus.SYNCED:
            continue
        elif action == ItemAction.CREATE:
            counts["recreated"] += 1
        else:
            counts["repaired"] += 1
            fields.update({str(c.get("field")) for c in changes or [] if isinstance(c, dict)})
    info: dict[str, Any] = details or {}
    return DriftRead(run_id=run.id, run_status=run.status, created_at=run.created_at, finished_at=run.finished_at,
                     checked=int(info.get("checked") or 0), repaired=counts["repaired"],
                     fields_repaired=dict(sorted(fields.items())), recreated=counts["recreated"],
                     failed=counts["failed"], orphan_count=int(info.get("orphan_count") or 0),
                     orphans=[Orphan(**o) for o in info.get("orphans") or []])
