import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, LargeBinary, String, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class ImageSource(Base):
    """A Zoho image identity (item, document id, name, type) → the hash of its optimised file,
    or why it could not be used. A known identity is never downloaded again."""

    __tablename__ = "image_sources"

    connection_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    image_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MediaAsset(Base):
    """Optimised image content → the store's media id. Idempotency key: (connection, sha256),
    so the same picture is uploaded once however many products show it. `data` keeps the file
    until the store has it (and while it may fetch it by URL, the `src` upload mode).

    `claim_token` and `claimed_at` are the upload's lease: a worker claims the picture and
    commits before it uploads, so no transaction stays open during the upload, and a second
    worker waits instead of uploading it again. The uploader renews `claimed_at`; a claim older
    than LEASE_SECONDS belongs to a dead worker and may be taken over."""

    __tablename__ = "media_assets"

    connection_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    content_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_id: Mapped[int | None] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
