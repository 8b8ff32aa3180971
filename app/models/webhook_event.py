import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, one_of


class EventOutcome(enum.StrEnum):
    QUEUED = "queued"  # accepted, its sync job not done yet
    SYNCED = "synced"  # the store was written
    UNCHANGED = "unchanged"  # Zoho's state equals what the store already holds: no write
    SKIPPED = "skipped"  # not syncable (no SKU, inactive, a group variant...): see detail
    FAILED = "failed"  # Zoho or the store refused: see detail
    NOT_FOUND = "not_found"  # Zoho says the item does not exist
    IGNORED = "ignored"  # the webhook was inactive
    REJECTED = "rejected"  # bad or missing signature


class WebhookEvent(Base):
    """One request to the webhook intake and what became of it (kept 30 days by default).
    No foreign key: events of a deleted connection keep their outcome."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_connection_received", "connection_id", "received_at"),
        Index("ix_webhook_events_item_outcome", "connection_id", "zoho_item_id", "outcome"),
        Index("ix_webhook_events_received", "received_at"),
        # The events still waiting for a pass: a few among the retention period's millions. The
        # pass, its "more events?" check and the stale-event recovery read only these.
        Index("ix_webhook_events_queued", "connection_id", "received_at", postgresql_where=text("outcome = 'queued'")),
        one_of("outcome", EventOutcome),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    connection_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    zoho_item_id: Mapped[str | None] = mapped_column(String(64))
    sku: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
