from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class WebhookEnable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


class WebhookToggle(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool


class WebhookRead(BaseModel):
    enabled: bool
    active: bool
    url: str | None
    last_received_at: datetime | None
    zoho_webhook_id: str | None
    zoho_workflow_id: str | None
    catchup_interval_minutes: int
    last_catchup_at: datetime | None
    catchup_watermark: datetime | None


class WebhookEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    received_at: datetime
    zoho_item_id: str | None
    sku: str | None
    outcome: str
    detail: str | None
    run_id: uuid.UUID | None
    processed_at: datetime | None
