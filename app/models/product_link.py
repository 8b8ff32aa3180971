import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, one_of


class LinkKind(enum.StrEnum):
    PRODUCT = "product"  # a Zoho item without a group → a simple product
    VARIABLE = "variable"  # a Zoho item group → a variable product
    VARIATION = "variation"  # a Zoho item inside a group → a variation


class ProductLink(Base):
    """The durable link between a Zoho id and a store id, and the hash of what was last written.

    This row is what makes a retry, a crash or a re-run an update instead of a second create,
    and what lets an unchanged product cost no store write.
    """

    __tablename__ = "product_links"
    __table_args__ = (
        UniqueConstraint("connection_id", "kind", "zoho_id"),
        Index("ix_product_links_connection_store", "connection_id", "store_id"),
        one_of("kind", LinkKind),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    connection_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("connections.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    zoho_id: Mapped[str] = mapped_column(String(80))
    store_id: Mapped[int] = mapped_column(BigInteger)
    store_parent_id: Mapped[int | None] = mapped_column(BigInteger)
    sku: Mapped[str | None] = mapped_column(String(200))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    # A variation whose Zoho item left its group or was deleted: set aside (out of stock, private).
    retired: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
