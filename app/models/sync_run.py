import enum
import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.models.mixins import TimestampMixin


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    FAILED = "failed"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED)


class SyncRun(TimestampMixin, Base):
    """One sync of a connection. Counters are derived from its items, so they cannot drift.

    `driver_token`/`heartbeat_at` form a lease: the job driving the run renews it after every
    batch; a run whose lease went stale (its worker died) is taken over by the recovery job.
    """

    __tablename__ = "sync_runs"
    __table_args__ = (
        # One active manual run per connection, enforced by the database itself.
        Index(
            "uq_sync_runs_one_active_per_connection",
            "connection_id",
            unique=True,
            postgresql_where=text("kind = 'manual' AND status IN ('queued', 'running', 'paused')"),
        ),
        Index("ix_sync_runs_connection_created", "connection_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    connection_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("connections.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16), default="manual")
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED)
    reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    driver_token: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
