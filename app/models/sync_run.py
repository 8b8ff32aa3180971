import enum
import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, one_of
from app.models.mixins import TimestampMixin


class RunStatus(enum.StrEnum):
    """A run's states; the moves between them live in app/syncs/state.py."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSING = "pausing"  # paused by the operator; a batch in flight is still being recorded
    PAUSED = "paused"
    CANCELLING = "cancelling"  # cancelled by the operator; a batch in flight is still being recorded
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    FAILED = "failed"


class RunKind(enum.StrEnum):
    MANUAL = "manual"
    WEBHOOK = "webhook"
    CATCHUP = "catchup"
    SCHEDULED = "scheduled"
    RETRY = "retry"  # the failed items of an earlier run, planned again from Zoho (app/syncs/retry.py)


class RunMode(enum.StrEnum):
    STANDARD = "standard"  # unchanged items (by content hash) are left alone
    VERIFY = "verify"  # the store's own records are read and compared field by field


# Runs over the whole catalogue: one active at a time per connection (the index below), and what
# "the last full sync" means to the webhook watermark and to events a run settles.
FULL_RUN_KINDS = (RunKind.MANUAL, RunKind.SCHEDULED)
# Runs the operator steers from the status page (start, pause, resume, cancel, retry failed):
# the full runs and retries of failed items. One active at a time per connection (the index
# below): a retry writes products a full run may be writing too. A retry is not "full": it moves
# no webhook watermark. Like a full run, its completed writes settle the webhook events received
# before it started (app/webhooks/outcomes.py): it read those items from Zoho after they came.
STEERED_RUN_KINDS = (RunKind.MANUAL, RunKind.SCHEDULED, RunKind.RETRY)

ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSING, RunStatus.PAUSED,
                       RunStatus.CANCELLING)


class SyncRun(TimestampMixin, Base):
    """One sync of a connection. Counters are derived from its items, so they cannot drift.

    `driver_token`/`heartbeat_at` form a lease: the job driving the run renews it every third of
    the lease; a run whose lease went stale (its worker died) is taken over by the recovery job.
    A run paused by a fault (store or Zoho unavailable, database gone) has `retry_at`: the
    recovery job resumes it then; `faults` counts the pauses in a row and sets the backoff.
    """

    __tablename__ = "sync_runs"
    __table_args__ = (
        # One active steered run (manual, scheduled or retry) per connection, enforced by the
        # database itself.
        Index(
            "uq_sync_runs_one_active_per_connection",
            "connection_id",
            unique=True,
            postgresql_where=text("kind IN ('manual', 'scheduled', 'retry') "
                                  "AND status IN ('queued', 'running', 'pausing', 'paused', 'cancelling')"),
        ),
        # A schedule's due time starts one run, however many workers see it fall due.
        Index("uq_sync_runs_schedule_due", "connection_id", "scheduled_for", unique=True,
              postgresql_where=text("scheduled_for IS NOT NULL")),
        one_of("mode", RunMode),
        # A run's retries (and the foreign key's ON DELETE) are found without a scan.
        Index("ix_sync_runs_retry_of", "retry_of", postgresql_where=text("retry_of IS NOT NULL")),
        Index("ix_sync_runs_retry_at", "retry_at", postgresql_where=text("retry_at IS NOT NULL")),
        one_of("status", RunStatus),
        one_of("kind", RunKind),
        Index("ix_sync_runs_connection_created", "connection_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    connection_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("connections.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16), default="manual")
    mode: Mapped[str] = mapped_column(String(16), default=RunMode.STANDARD, server_default="standard")
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A retry run's source: the run whose failed items it syncs again (null for other kinds).
    retry_of: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sync_runs.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED)
    reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    driver_token: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    faults: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The batch size and batches in flight the store's answers led to: {"batch_size", "in_flight"}.
    pace: Mapped[dict[str, int] | None] = mapped_column(JSONB)
