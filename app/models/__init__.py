"""Every table, imported here so Alembic and the app see one metadata."""

from app.db.base import Base
from app.models.connection import Connection
from app.models.media import ImageSource, MediaAsset
from app.models.preview import Preview, PreviewStatus
from app.models.product_link import LinkKind, ProductLink
from app.models.sync_log import LogLevel, SyncLog
from app.models.sync_run import (
    ACTIVE_RUN_STATUSES,
    FULL_RUN_KINDS,
    STEERED_RUN_KINDS,
    RunKind,
    RunMode,
    RunStatus,
    SyncRun,
)
from app.models.sync_run_item import ItemAction, ItemKind, ItemStatus, SyncRunItem
from app.models.webhook_event import EventOutcome, WebhookEvent

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "FULL_RUN_KINDS",
    "STEERED_RUN_KINDS",
    "Base",
    "Connection",
    "EventOutcome",
    "ImageSource",
    "ItemKind",
    "MediaAsset",
    "Preview",
    "PreviewStatus",
    "ItemAction",
    "ItemStatus",
    "LinkKind",
    "LogLevel",
    "ProductLink",
    "RunKind",
    "RunMode",
    "RunStatus",
    "SyncLog",
    "SyncRun",
    "SyncRunItem",
    "WebhookEvent",
]
