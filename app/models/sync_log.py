import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, one_of


class LogLevel(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class SyncLog(Base):
    """The searchable sync log. No foreign keys: entries outlive the runs and connections
    they describe until the retention job removes them."""

    __tablename__ = "sync_logs"
    __table_args__ = (
        Index("ix_sync_logs_created", "created_at"),
        Index("ix_sync_logs_connection_created", "connection_id", "created_at"),
        Index("ix_sync_logs_run", "run_id"),
        Index("ix_sync_logs_sku", "sku"),
        one_of("level", LogLevel),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    connection_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    level: Mapped[str] = mapped_column(String(10))
    action: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(16))
    sku: Mapped[str | None] = mapped_column(String(200))
    zoho_item_id: Mapped[str | None] = mapped_column(String(64))
    store_id: Mapped[int | None] = mapped_column(BigInteger)
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
