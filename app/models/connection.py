import uuid
from typing import Any

from sqlalchemy import Boolean, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.models.mixins import TimestampMixin


class Connection(TimestampMixin, Base):
    """One Zoho organization paired with one WooCommerce store.

    Every credential lives in `credentials`, a Fernet token (see app/core/crypto.py); the
    columns beside it hold only what is safe to show.
    """

    __tablename__ = "connections"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    zoho_organization_id: Mapped[str] = mapped_column(String(64))
    zoho_data_center: Mapped[str] = mapped_column(String(16))
    zoho_api_base_url: Mapped[str | None] = mapped_column(Text)
    zoho_accounts_base_url: Mapped[str | None] = mapped_column(Text)
    woo_base_url: Mapped[str] = mapped_column(Text)
    woo_verify_tls: Mapped[bool] = mapped_column(Boolean, default=True)
    credentials: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB)
