from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.models import RunMode


class FieldChange(BaseModel):
    field: str
    store: Any
    zoho: Any


class RunRead(BaseModel):
    id: uuid.UUID
    connection_id: uuid.UUID
    kind: str
    mode: str = "standard"  # verify: the store's records were read and compared field by field
    status: str
    reason: str | None
    total: int
    synced: int
    failed: int
    pending: int
    skipped: int
    cancelled: int
    progress: float
    # When a run paused by a fault resumes by itself (null otherwise).
    retry_at: datetime | None = None
    # The pace the store's answers settled on: {"batch_size": n, "in_flight": m}.
    pace: dict[str, int] | None = None
    # The due time a scheduled run was started for (null for other kinds).
    scheduled_for: datetime | None = None
    # The run whose failed items a retry run syncs again (null for other kinds).
    retry_of: uuid.UUID | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class RunItemRead(BaseModel):
    id: int
    zoho_item_id: str | None  # a variable product's is its item group's; none when no group stands for it
    sku: str | None
    name: str | None
    action: str
    status: str
    error: str | None
    error_code: str | None
    store_id: int | None
    attempts: int
    updated_at: datetime
    kind: str = "product"  # product, variable (an item group), variation
    group: str | None = None  # the item group a variable product is, or a variation is written under
    parent_store_id: int | None = None  # a variation's variable product when no item group stands for it
    images: str | None = None  # the image step: pending, done, failed (null: nothing to do)
    # What a verify run found different and wrote, field by field (null for other runs' items).
    changes: list[FieldChange] | None = None


class RecentItem(BaseModel):
    """A done item as the status page's "Recently synced" lists it: `at` is when it was done;
    `error` the store's reason for a failed item, or an image's for a synced one."""

    id: int
    sku: str | None
    name: str | None
    action: str
    status: str
    error: str | None
    images_failed: bool = False
    at: datetime


class SyncStart(BaseModel):
    """The optional body of `POST /connections/{id}/syncs`."""

    model_config = ConfigDict(extra="forbid")

    mode: RunMode = RunMode.STANDARD
