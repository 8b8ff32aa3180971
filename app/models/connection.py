import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.models.mixins import TimestampMixin

# Store platforms a connection can pair with; the `store_*` columns are in the store's words,
# whichever platform it is.
PLATFORMS = ("woocommerce",)


class Connection(TimestampMixin, Base):
    """One Zoho organization paired with one store (`platform`, today WooCommerce).

    Every credential lives in `credentials`, a Fernet token (see app/core/crypto.py); the
    columns beside it hold only what is safe to show.
    """

    __tablename__ = "connections"
    __table_args__ = (CheckConstraint(f"platform IN ({', '.join(repr(p) for p in PLATFORMS)})", name="platform"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    # None until Zoho is linked (app/connections/links.py: "Link by signing in").
    zoho_organization_id: Mapped[str | None] = mapped_column(String(64))
    zoho_organization_name: Mapped[str | None] = mapped_column(String(200))
    zoho_data_center: Mapped[str] = mapped_column(String(16))
    zoho_api_base_url: Mapped[str | None] = mapped_column(Text)
    zoho_accounts_base_url: Mapped[str | None] = mapped_column(Text)
    platform: Mapped[str] = mapped_column(String(32), default="woocommerce", server_default="woocommerce")
    store_base_url: Mapped[str] = mapped_column(Text)
    store_verify_tls: Mapped[bool] = mapped_column(Boolean, default=True)
    credentials: Mapped[str] = mapped_column(Text)
    # Set when Zoho refused the stored refresh token: the connection needs reconnecting, and no
    # run starts until the operator signs in to Zoho again (which clears both).
    zoho_reconnect_reason: Mapped[str | None] = mapped_column(Text)
    zoho_reconnect_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB)

    # Real-time sync: the Zoho webhook and workflow this service created, and its own state.
    webhook_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    webhook_active: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    webhook_secret: Mapped[str | None] = mapped_column(Text)  # Fernet token, like `credentials`
    zoho_webhook_id: Mapped[str | None] = mapped_column(String(64))
    zoho_workflow_id: Mapped[str | None] = mapped_column(String(64))
    # Catch-up: every item modified after `catchup_watermark` (minus an overlap) is synced again.
    catchup_watermark: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_catchup_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
