import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class LogRead(BaseModel):
    id: int
    created_at: datetime
    connection_id: uuid.UUID | None
    run_id: uuid.UUID | None
    level: str
    action: str | None
    status: str | None
    sku: str | None
    zoho_item_id: str | None
    store_id: int | None
    message: str
    details: dict[str, Any] | None

    model_config = {"from_attributes": True}
