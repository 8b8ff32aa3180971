"""API shapes of a connection. Unknown fields are refused (422 naming the field) so a typo in a
setting never silently falls back to a default."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import available_timezones

from cronsim import CronSim, CronSimError
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, create_model, field_validator, model_validator
from pydantic.fields import FieldInfo

from app.api.params import storable
from app.integrations.zoho.datacenters import DATA_CENTERS
from app.models import RunMode

SyncField = Literal["name", "description", "price", "stock", "low_stock", "weight", "dimensions", "images", "gallery"]
ALL_SYNC_FIELDS: list[SyncField] = ["name", "description", "price", "stock", "low_stock", "weight", "dimensions",
                              "images", "gallery"]
REDACTED = "**********"

DataCenter = Literal["com", "eu", "in", "com.au", "jp", "ca", "com.cn", "sa"]
assert set(DataCenter.__args__) == set(DATA_CENTERS)  # type: ignore[attr-defined]  # Literal's args exist at run time

NonEmpty = Annotated[str, Field(min_length=1, max_length=500)]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestBody(Strict):
    """A whole request body. Its text is checked once, here, for every nested part (which then
    need not walk their own subtrees again, nor settings read back from the database)."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        """Text Postgres can store, everywhere in the body: a NUL or a lone surrogate is a 422."""
        return storable(data)


ScheduleMode = Literal["standard", "verify"]
assert set(ScheduleMode.__args__) == set(RunMode)  # type: ignore[attr-defined]  # a schedule starts any run mode


@cache
def _time_zones() -> frozenset[str]:
    """IANA names only: the system's database or the `tzdata` package (the slim image has none)."""
    return frozenset(available_timezones())


class Schedule(Strict):
    """When full runs start by themselves: a five-field cron expression read in `timezone`.

    `mode` is the run's mode; `verify` compares the store's records with Zoho field by field
    (a run started before verify runs exist in this build writes as a standard run).
    Evaluation, DST and missed due times: app/syncs/schedules.py."""

    cron: Annotated[str, Field(min_length=9, max_length=200, examples=["0 3 * * 1"])]
    mode: ScheduleMode = "standard"
    timezone: Annotated[str, Field(min_length=1, max_length=64, examples=["Europe/Berlin"])] = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        """Five fields (minute hour day month weekday), as cronsim reads them; a sixth (seconds)
        field or an @-alias is refused, and so is a date that never comes (30 February)."""
        value = " ".join(value.split())
        if len(value.split(" ")) != 5:
            raise ValueError("a cron expression has five fields: minute hour day-of-month month day-of-week")
        try:
            CronSim(value, datetime(2000, 1, 1))
        except CronSimError as exc:
            raise ValueError(f"not a cron expression: {exc}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in _time_zones():
            raise ValueError(f"unknown time zone {value!r}: an IANA name such as 'Europe/Berlin' or 'UTC'")
        return value


class ConnectionSettings(Strict):
    create_missing_products: bool = True
    create_missing_variations: bool = True
    new_product_status: Literal["draft", "pending", "publish"] = "draft"
    sync_fields: list[SyncField] = Field(default_factory=lambda: list(ALL_SYNC_FIELDS))
    warehouse_ids: list[Identifier] | None = None
    stock_figure: Literal["available", "actual_available"] = "available"
    # A variation whose Zoho item was deleted, made inactive or moved out of its group:
    # private = out of stock and hidden; outofstock = out of stock, still shown. Never deleted.
    retired_variations: Literal["private", "outofstock"] = "private"
    # Images: optimised before upload (long edge in px; jpeg or webp; PNGs with transparency stay PNG).
    image_max_edge: int = Field(default=2048, ge=256, le=8192)
    image_format: Literal["jpeg", "webp"] = "jpeg"
    image_quality: int = Field(default=85, ge=40, le=100)
    # How images reach the store: media = upload to /wp/v2/media (needs wp_username and
    # wp_application_password); src = the store downloads them from this service's
    # PUBLIC_BASE_URL; auto = media when the WordPress credentials are set, else src.
    image_upload: Literal["auto", "media", "src"] = "auto"
    # exact: SKUs must be equal including case; case_insensitive: "abc" links to "ABC".
    sku_match: Literal["exact", "case_insensitive"] = "exact"
    # Objects per /products/batch request (the store allows 100; smaller is kinder to slow hosts).
    batch_size: int = Field(default=50, ge=1, le=100)
    # Batches in flight at once against the store.
    store_concurrency: int = Field(default=2, ge=1, le=8)
    # With the webhook on: how often a catch-up looks for changes whose webhook went missing.
    catchup_interval_minutes: int = Field(default=15, ge=1, le=1440)
    # Full runs of kind "scheduled" started by the workers; null: none. Sent whole, replaced whole.
    schedule: Schedule | None = None

    @field_validator("sync_fields")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class ZohoIn(Strict):
    organization_id: Identifier
    client_id: NonEmpty
    client_secret: SecretStr = Field(min_length=1)
    refresh_token: SecretStr = Field(min_length=1)
    data_center: DataCenter = "com"
    api_base_url: AnyHttpUrl | None = None
    accounts_base_url: AnyHttpUrl | None = None


class WooIn(Strict):
    base_url: AnyHttpUrl
    consumer_key: NonEmpty
    consumer_secret: SecretStr = Field(min_length=1)
    verify_tls: bool = True
    wp_username: NonEmpty | None = None
    wp_application_password: SecretStr | None = None


class ConnectionCreate(RequestBody):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    zoho: ZohoIn
    woocommerce: WooIn
    settings: ConnectionSettings = Field(default_factory=ConnectionSettings)


def patch_of(model: type[Strict], name: str) -> type[Strict]:
    """`model` with every field optional, for a partial update: derived, so a field added to
    `model` can be patched at once.

    Each field keeps its type, constraints and validators and only loses its default (None,
    i.e. "not sent"; callers read `model_fields_set`). So `null` is accepted only where `model`
    accepts it (warehouse_ids: all warehouses; a Zoho URL: the data center's; the WordPress
    credentials: none) and is a 422 naming the field everywhere else.
    """
    fields: dict[str, Any] = {
        field: (info.annotation, FieldInfo.merge_field_infos(info, default=None, default_factory=None))
        for field, info in model.model_fields.items()
    }
    return create_model(name, __base__=model, __module__=__name__, **fields)


if TYPE_CHECKING:  # built at run time; to the type checker each has its model's fields
    ZohoPatch = ZohoIn
    WooPatch = WooIn
    SettingsPatch = ConnectionSettings
else:
    ZohoPatch = patch_of(ZohoIn, "ZohoPatch")
    WooPatch = patch_of(WooIn, "WooPatch")
    SettingsPatch = patch_of(ConnectionSettings, "SettingsPatch")


class ConnectionUpdate(RequestBody):
    """Partial update: only the fields sent change; settings are merged into the current ones.
    A section sent as null changes nothing; a name sent as null is refused."""

    # None means "not sent"; a null sent is refused, since the type itself admits no None.
    name: Annotated[str, Field(min_length=1, max_length=200)] = None  # type: ignore[assignment]  # see above
    zoho: ZohoPatch | None = None
    woocommerce: WooPatch | None = None
    settings: SettingsPatch | None = None


class ZohoRead(BaseModel):
    """`linked`: a refresh token and an organization are stored (null organization: not linked
    yet, or the operator has yet to pick one). `needs_reconnect`: Zoho refused the refresh
    token at `reconnect_since` for `reconnect_reason`; no run starts until Zoho is connected again."""

    organization_id: str | None
    organization_name: str | None = None
    data_center: str
    api_base_url: str | None
    accounts_base_url: str | None
    client_id: str = REDACTED
    client_secret: str = REDACTED
    refresh_token: str = REDACTED
    linked: bool = False
    needs_reconnect: bool = False
    reconnect_reason: str | None = None
    reconnect_since: datetime | None = None


class WooRead(BaseModel):
    base_url: str
    verify_tls: bool
    wp_username: str | None
    consumer_key: str = REDACTED
    consumer_secret: str = REDACTED
    wp_application_password: str | None = None
    linked: bool = False  # its consumer key and secret are stored


class ConnectionRead(BaseModel):
    id: uuid.UUID
    name: str
    zoho: ZohoRead
    woocommerce: WooRead
    # Both sides linked; `needs_reconnect` as in `zoho` (app/connections/links.py).
    linked: bool = False
    needs_reconnect: bool = False
    settings: ConnectionSettings
    created_at: datetime
    updated_at: datetime
