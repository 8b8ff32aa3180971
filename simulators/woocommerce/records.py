"""The stored objects of the simulated store: products/variations, media items, terms, knobs.

They mirror what WordPress keeps in its tables, not what the API shows: derived values (price of a
variable product, variation names, permalinks) are computed when a response is rendered.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from simulators.woocommerce.wp import now_utc

DRAFT_STATUSES = ("draft", "pending", "auto-draft")
DEFAULT_CATEGORY_ID = 15


def _empty_dimensions() -> dict[str, str]:
    return {"length": "", "width": "", "height": ""}


@dataclass
class ProductRecord:
    """A `product` or `product_variation` post with its WooCommerce props (edit-context values)."""

    id: int = 0
    type: str = "simple"  # simple | grouped | external | variable | variation
    parent_id: int = 0
    name: str = ""
    slug: str = ""
    status: str = "publish"
    date_created: datetime = field(default_factory=now_utc)
    date_modified: datetime = field(default_factory=now_utc)
    featured: bool = False
    catalog_visibility: str = "visible"
    description: str = ""
    short_description: str = ""
    sku: str = ""
    global_unique_id: str = ""
    regular_price: str = ""
    sale_price: str = ""
    date_on_sale_from: datetime | None = None
    date_on_sale_to: datetime | None = None
    total_sales: int = 0
    virtual: bool = False
    downloadable: bool = False
    downloads: list[dict[str, Any]] = field(default_factory=list)
    download_limit: int = -1
    download_expiry: int = -1
    external_url: str = ""
    button_text: str = ""
    tax_status: str = "taxable"
    tax_class: str = ""
    manage_stock: bool = False
    stock_quantity: int | None = None
    stock_status: str = "instock"
    backorders: str = "no"
    low_stock_amount: int | None = None
    sold_individually: bool = False
    weight: str = ""
    dimensions: dict[str, str] = field(default_factory=_empty_dimensions)
    shipping_class: str = ""
    reviews_allowed: bool = True
    post_password: str = ""
    upsell_ids: list[int] = field(default_factory=list)
    cross_sell_ids: list[int] = field(default_factory=list)
    purchase_note: str = ""
    menu_order: int = 0
    category_ids: list[int] = field(default_factory=list)
    tag_ids: list[int] = field(default_factory=list)
    # Products: [featured image, *gallery]. Variations: [image] or [].
    image_ids: list[int] = field(default_factory=list)
    gallery_image_ids: list[int] = field(default_factory=list)  # variations only (WC 11.1)
    # Products: [{name, position, visible, variation, options}]. Variations: [{key, value}].
    attributes: list[dict[str, Any]] = field(default_factory=list)
    default_attributes: list[dict[str, Any]] = field(default_factory=list)
    meta_data: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_variation(self) -> bool:
        return self.type == "variation"

    @property
    def post_type(self) -> str:
        return "product_variation" if self.is_variation else "product"

    def as_dict(self) -> dict[str, Any]:
        """Every stored prop, JSON-ready (dates as ISO strings), for the control API."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        return data


@dataclass
class MediaItem:
    """An attachment post plus its file (the bytes are kept so /wp-content/uploads can serve them)."""

    id: int
    file: str  # "2026/11/cap-red.png", relative to /wp-content/uploads/
    mime_type: str
    data: bytes = field(repr=False)
    title: str = ""
    alt: str = ""
    slug: str = ""
    width: int | None = None
    height: int | None = None
    sha256: str = ""
    source_url: str = ""  # the URL as of the request that created it
    source: str = ""  # `_wc_attachment_source`: the src it was sideloaded from
    parent_id: int = 0
    date_created: datetime = field(default_factory=now_utc)

    @property
    def filesize(self) -> int:
        return len(self.data)

    @property
    def filename(self) -> str:
        return self.file.rsplit("/", 1)[-1]

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/")

    def as_dict(self) -> dict[str, Any]:
        """Library entry without the bytes, for the control API."""
        return {
            "id": self.id,
            "file": self.file,
            "source_url": self.source_url,
            "mime_type": self.mime_type,
            "filesize": self.filesize,
            "sha256": self.sha256,
            "title": self.title,
            "alt": self.alt,
            "width": self.width,
            "height": self.height,
            "source": self.source,
            "date_created": self.date_created.isoformat(),
        }


@dataclass
class Term:
    """A product category or tag."""

    id: int
    name: str
    slug: str


@dataclass
class ConsumerKey:
    """A WooCommerce REST API key; `nonces` maps OAuth timestamp → nonce, as WooCommerce stores them."""

    key: str
    secret: str
    permissions: str = "read_write"  # read | write | read_write
    user_id: int = 1
    nonces: dict[int, str] = field(default_factory=dict)
    key_id: int = 0  # the `key_id` a /wc-auth/ grant posts; 0 for keys made any other way
    description: str = ""


@dataclass
class AppPassword:
    """A WordPress application password of one user."""

    user: str
    password: str
    user_id: int = 1
    name: str = ""
    app_id: str = ""


KNOB_NAMES = (
    "latency_ms",
    "per_item_latency_ms",
    "upload_latency_ms",
    "rate_429",
    "rate_5xx",
    "retry_after",
    "fail_next",
    "batch_limit",
    "gateway_timeout_over",
    "seed",
    "connect_http_callbacks",
    "connect_key_permissions",
)


@dataclass
class StoreKnobs:
    """Runtime behaviour switches (all mutable, also through PUT /__sim__/config).

    latency_ms          added to every request (asyncio.sleep, so requests overlap)
    per_item_latency_ms added per object of a batch write and per product of a single write
    upload_latency_ms   added to every media upload (WordPress writing thumbnails), while the
                        upload counts as in flight (stats: `uploads_peak`)
    rate_429, rate_5xx  probability (0..1) of answering 429 + Retry-After / 503 with an HTML body
    retry_after         seconds announced in Retry-After on injected 429s
    fail_next           [{"status", "body", "headers", "path_contains"}], each served once
    batch_limit         the `woocommerce_rest_batch_items_limit` filter (default 100)
    gateway_timeout_over a batch of more than this many objects is written, then answered 504
                        (a proxy gave up while PHP went on, as on shared hosting); 0 = off
    seed                seed of the random generator deciding injected faults
    connect_http_callbacks  /wc-auth/ accepts an http:// callback_url (for local runs: the real
                        plugin has no such switch and refuses anything but https://)
    connect_key_permissions  a /wc-auth/ grant makes its key with these permissions ("read",
                        "write", "read_write") whatever scope was asked: a key that a store
                        owner later narrowed, for tests; None = the requested scope
    """

    latency_ms: float = 0.0
    per_item_latency_ms: float = 0.0
    upload_latency_ms: float = 0.0
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    retry_after: int = 1
    fail_next: list[dict[str, Any]] = field(default_factory=list)
    batch_limit: int = 100
    gateway_timeout_over: int = 0
    seed: int | None = None
    connect_http_callbacks: bool = False
    connect_key_permissions: str | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rng.seed(self.seed)

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a partial update; raises ValueError on unknown names or bad values."""
        unknown = sorted(set(changes) - set(KNOB_NAMES))
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(unknown)}")
        for name, value in changes.items():
            setattr(self, name, _coerce_knob(name, value))
        if "seed" in changes:
            self.rng.seed(self.seed)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rng"}


def _coerce_knob(name: str, value: Any) -> Any:
    """Type-check one knob value (the control API takes JSON from anywhere)."""
    if name == "fail_next":
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise ValueError("fail_next must be a list of objects")
        return [dict(item) for item in value]
    if name == "seed":
        return None if value is None else int(value)
    if name == "connect_http_callbacks":
        if not isinstance(value, bool):
            raise ValueError("connect_http_callbacks must be true or false")
        return value
    if name == "connect_key_permissions":
        if value not in (None, "read", "write", "read_write"):
            raise ValueError("connect_key_permissions must be read, write, read_write or null")
        return value
    if name in ("batch_limit", "retry_after", "gateway_timeout_over"):
        number = int(value)
    else:
        number = float(value)
    if number < 0 or (name in ("rate_429", "rate_5xx") and number > 1):
        raise ValueError(f"{name} out of range: {value}")
    return number
