import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, one_of


class ItemAction(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    SKIP = "skip"


class ItemKind(enum.StrEnum):
    PRODUCT = "product"  # a simple product
    VARIABLE = "variable"  # an item group's variable product
    VARIATION = "variation"


class ItemStatus(enum.StrEnum):
    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class SyncRunItem(Base):
    """One product of a run with its planned action and the exact content to write.

    Idempotency key: (run_id, kind, zoho_item_id). A batch claims items by setting `claim_token` and
    `claimed_at`; a claim older than the lease is free to be taken again.
    """

    __tablename__ = "sync_run_items"
    __table_args__ = (
        UniqueConstraint("run_id", "kind", "zoho_item_id"),
        Index("ix_sync_run_items_run_status", "run_id", "status", "id"),
        Index("ix_sync_run_items_group", "run_id", "group_id", postgresql_where=text("group_id IS NOT NULL")),
        Index("ix_sync_run_items_parent_store", "run_id", "parent_store_id",
              postgresql_where=text("parent_store_id IS NOT NULL")),
        # The status page's "Recently synced": a run's newest written or failed items, per status.
        Index("ix_sync_run_items_done", "run_id", "status", "updated_at",
              postgresql_where=text("status IN ('synced', 'failed')")),
        Index("ix_sync_run_items_images", "run_id", "id", postgresql_where=text("image_state = 'pending'")),
        one_of("kind", ItemKind),
        one_of("action", ItemAction),
        one_of("status", ItemStatus),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("sync_runs.id", ondelete="CASCADE"))
    # The Zoho item; for a variable product (kind variable) its item group, as in product_links.zoho_id;
    # none for a variable product that no item group stands for any more (see parent_store_id).
    zoho_item_id: Mapped[str | None] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16), default="product", server_default="product")
    # The item group whose variable product this row is (kind variable), or is written under (a
    # variation): a variation is claimed and written with its variable product's row.
    group_id: Mapped[str | None] = mapped_column(String(80))
    # A variation written under a variable product that no item group stands for (the parent of
    # variations whose items left Zoho): that product's store id, the store_id of its row.
    parent_store_id: Mapped[int | None] = mapped_column(BigInteger)
    # pending: the product is written, its images follow in the image step; done / failed after.
    image_state: Mapped[str | None] = mapped_column(String(16))
    sku: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # What the run changed in the store, field by field: [{"field", "store", "zoho"}].
    changes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    store_id: Mapped[int | None] = mapped_column(BigInteger)
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())
