"""State of the simulated WooCommerce store: pure Python, no HTTP.

`StoreState` holds the posts (products and variations), the media library, terms, credentials,
store settings, fault knobs and request counters, and applies WooCommerce's domain rules:

- writes go through a *draft* (a deep copy). `prepare_product` / `prepare_variation` set props in
  WooCommerce's order and raise `WCError` on the first domain error; the caller may then attach
  images (which needs HTTP, so it lives in `images.py`) and `commit` the draft. A failed write
  therefore leaves the stored object untouched, as an aborted `save()` does;
- SKUs are unique across products and variations, case-insensitively, trash excluded; creating a
  product also takes WooCommerce's lookup-table lock, which *does* see trashed products (WC ≥ 9.3);
- derived values (variable prices, stock from children) are computed by `variable_summary`.

Public methods take a lock because a test thread may touch the state while the server's event
loop serves requests. SKUs, slugs and children are indexed, so a store with thousands of products
stays fast; code that stores records itself should go through `put` to keep the indexes right.

Choices where the captures are silent:
- the lookup-table lock applies to product creates only, not to variation creates;
- post ids are shared by products, variations and media (WordPress posts); a create refused by the
  lookup-table lock still uses up an id (WooCommerce inserts the post, then deletes it).
"""

from __future__ import annotations

import copy
import hashlib
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from simulators.woocommerce.errors import WCError
from simulators.woocommerce.props import (
    apply_product_params,
    apply_variation_params,
    derive_stock_status,
)
from simulators.woocommerce.records import (
    DEFAULT_CATEGORY_ID,
    DRAFT_STATUSES,
    AppPassword,
    ConsumerKey,
    MediaItem,
    ProductRecord,
    StoreKnobs,
    Term,
)
from simulators.woocommerce.wp import is_numeric, now_utc, sanitize_title, wc_clean

DEMO_CONSUMER_KEY = ("ck_demo", "cs_demo")
DEMO_APP_PASSWORD = ("admin", "demo demo demo demo demo demo")
FIRST_POST_ID = 452  # the captures' first product id, so ids look familiar
FIRST_META_ID = 7328


class _Index:
    """key → ids (a SKU or slug may be held by several posts, e.g. a trashed one)."""

    def __init__(self) -> None:
        self._ids: dict[str, set[int]] = {}

    def add(self, key: str, object_id: int) -> None:
        if key:
            self._ids.setdefault(key, set()).add(object_id)

    def discard(self, key: str, object_id: int) -> None:
        ids = self._ids.get(key)
        if ids is not None:
            ids.discard(object_id)
            if not ids:
                del self._ids[key]

    def ids(self, key: str) -> set[int]:
        return self._ids.get(key, set())


class StoreState:
    """One WooCommerce store in memory."""

    def __init__(
        self,
        *,
        consumer_keys: Iterable[tuple[str, str] | tuple[str, str, str]] | None = None,
        app_passwords: Iterable[tuple[str, str]] | None = None,
        weight_unit: str = "lbs",
        dimension_unit: str = "in",
        manage_stock: str = "yes",
        site_url: str | None = None,
        app_passwords_over_http: bool = True,
        currency_symbol: str = "&euro;",
        knobs: StoreKnobs | None = None,
        **knob_values: Any,
    ) -> None:
        """Credentials default to the demo ones; `knob_values` are StoreKnobs fields.

        `site_url` fixes the store address used in links and OAuth base strings; by default each
        request's own scheme://host:port is used. `app_passwords_over_http` mimics a WordPress
        whose environment type is "local", where application passwords work without HTTPS.
        """
        keys = [DEMO_CONSUMER_KEY] if consumer_keys is None else list(consumer_keys)
        self.consumer_keys = {k[0]: ConsumerKey(k[0], k[1], *(k[2:3] or ())) for k in keys}
        passwords = [DEMO_APP_PASSWORD] if app_passwords is None else list(app_passwords)
        self.app_passwords = {user.lower(): AppPassword(user, pw) for user, pw in passwords}
        # Passwords made by authorize-application.php, beside each user's first one.
        self.granted_app_passwords: list[AppPassword] = []
        self._next_key_id = 1
        self.weight_unit = weight_unit
        self.dimension_unit = dimension_unit
        self.manage_stock_option = manage_stock
        self.site_url = site_url.rstrip("/") if site_url else None
        self.app_passwords_over_http = app_passwords_over_http
        self.currency_symbol = currency_symbol
        self.knobs = knobs or StoreKnobs()
        self.knobs.update(knob_values)
        self.lock = threading.RLock()
        self._wipe()

    def _wipe(self) -> None:
        self.products: dict[int, ProductRecord] = {}
        self.media: dict[int, MediaItem] = {}
        self.categories: dict[int, Term] = {DEFAULT_CATEGORY_ID: Term(DEFAULT_CATEGORY_ID, "Uncategorized", "uncategorized")}
        self.tags: dict[int, Term] = {}
        self._next_post_id = FIRST_POST_ID
        self._next_meta_id = FIRST_META_ID
        self._next_term_id = 16
        self._skus = _Index()  # casefolded SKU → ids (products and variations, trash included)
        self._slugs = _Index()  # slug → product ids
        self._children: dict[int, set[int]] = {}  # parent id → variation ids
        self.reset_stats()

    # ------------------------------------------------------------------ housekeeping

    def reset(self) -> None:
        """Wipe products, media, terms and stats (credentials, settings and knobs stay)."""
        with self.lock:
            self._wipe()
            for key in self.consumer_keys.values():
                key.nonces.clear()

    def reset_stats(self) -> None:
        self.requests: Counter[str] = Counter()
        self.objects_written = 0
        self.media_created = 0
        self.uploads_in_flight = 0
        self.uploads_peak = 0  # the most media uploads served at once

    @contextmanager
    def uploading(self) -> Iterator[None]:
        """One media upload in flight, for `uploads_peak`."""
        with self.lock:
            self.uploads_in_flight += 1
            self.uploads_peak = max(self.uploads_peak, self.uploads_in_flight)
        try:
            yield
        finally:
            with self.lock:
                self.uploads_in_flight -= 1

    def count_request(self, route_key: str) -> None:
        with self.lock:
            self.requests[route_key] += 1

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "objects_written": self.objects_written,
                "media_created": self.media_created,
                "uploads_peak": self.uploads_peak,
            }

    def update_knobs(self, changes: dict[str, Any]) -> None:
        """Partial knob update (same rules as PUT /__sim__/config)."""
        with self.lock:
            self.knobs.update(changes)

    # ------------------------------------------------------------------ connect flows

    def grant_key(self, *, app_name: str, permissions: str, user_id: int = 1) -> ConsumerKey:
        """`WC_Auth::create_keys`: a new key for the app, described as WooCommerce does."""
        with self.lock:
            key = ConsumerKey(f"ck_{secrets.token_hex(20)}", f"cs_{secrets.token_hex(20)}", permissions, user_id,
                              key_id=self._next_key_id,
                              description=f"{app_name[:170]} - API ({time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())})")
            self._next_key_id += 1
            self.consumer_keys[key.key] = key
            return key

    def delete_key(self, key_id: int) -> None:
        """`WC_Auth::maybe_delete_key`."""
        with self.lock:
            self.consumer_keys = {k: v for k, v in self.consumer_keys.items() if v.key_id != key_id or not key_id}

    def grant_app_password(self, *, user: str, name: str, app_id: str) -> str:
        """`WP_Application_Passwords::create_new_application_password`: 24 letters and digits."""
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        password = "".join(secrets.choice(alphabet) for _ in range(24))
        with self.lock:
            self.granted_app_passwords.append(AppPassword(user, password, name=name, app_id=app_id))
        return password

    def app_passwords_of(self, user: str) -> list[AppPassword]:
        """Every application password of `user` (case-insensitive)."""
        with self.lock:
            first = self.app_passwords.get(user.lower())
            return ([first] if first else []) + [p for p in self.granted_app_passwords if p.user.lower() == user.lower()]

    @property
    def manages_stock(self) -> bool:
        return self.manage_stock_option == "yes"

    def allocate_post_id(self) -> int:
        with self.lock:
            self._next_post_id += 1
            return self._next_post_id - 1

    # ------------------------------------------------------------------ storage and indexes

    def put(self, record: ProductRecord) -> None:
        """Store (or replace) a record and keep the indexes in step."""
        with self.lock:
            old = self.products.get(record.id)
            if old is not None:
                self._unindex(old)
            self.products[record.id] = record
            self._index(record)

    def _index(self, record: ProductRecord) -> None:
        self._skus.add(record.sku.casefold(), record.id)
        if record.is_variation:
            self._children.setdefault(record.parent_id, set()).add(record.id)
        else:
            self._slugs.add(record.slug, record.id)

    def _unindex(self, record: ProductRecord) -> None:
        self._skus.discard(record.sku.casefold(), record.id)
        if record.is_variation:
            self._children.get(record.parent_id, set()).discard(record.id)
        else:
            self._slugs.discard(record.slug, record.id)

    def _remove(self, record: ProductRecord) -> None:
        self._unindex(record)
        self.products.pop(record.id, None)

    # ------------------------------------------------------------------ lookups

    def get(self, object_id: int) -> ProductRecord | None:
        return self.products.get(object_id)

    def children(self, parent_id: int, *, include_trash: bool = False) -> list[ProductRecord]:
        """Variations of a product, ascending ids."""
        kids = (self.products[i] for i in sorted(self._children.get(parent_id, ())) if i in self.products)
        return [k for k in kids if include_trash or k.status != "trash"]

    def sku_holder(self, sku: str, *, exclude_id: int = 0) -> ProductRecord | None:
        """`wc_get_product_id_by_sku`: the non-trashed product or variation holding `sku`."""
        for object_id in sorted(self._skus.ids(sku.casefold())):
            record = self.products.get(object_id)
            if record is not None and object_id != exclude_id and record.status != "trash":
                return record
        return None

    def unique_sku(self, sku: str, *, exclude_id: int = 0) -> str:
        """`wc_product_generate_unique_sku`: sku, sku-1, sku-2, ... whichever is free first."""
        index = 1
        while self.sku_holder(f"{sku}-{index}", exclude_id=exclude_id) is not None:
            index += 1
        return f"{sku}-{index}"

    def _lookup_table_has(self, sku: str, *, exclude_id: int) -> bool:
        """The wc_product_meta_lookup check of the SKU lock: trashed products count too."""
        return bool(self._skus.ids(sku.casefold()) - {exclude_id})

    def gtin_holder(self, gtin: str, *, exclude_id: int = 0) -> ProductRecord | None:
        return next(
            (r for r in self.products.values() if r.id != exclude_id and r.status != "trash" and r.global_unique_id == gtin),
            None,
        )

    def resolve_tag(self, item: Any) -> int | None:
        """A tag given as {id} (must exist) or {name} (created when missing)."""
        if not isinstance(item, dict):
            return None
        if item.get("id"):
            return int(item["id"]) if int(item["id"]) in self.tags else None
        name = wc_clean(item.get("name") or "")
        if not name:
            return None
        found = next((t for t in self.tags.values() if t.name.casefold() == name.casefold()), None)
        if found is None:
            found = Term(self._next_term_id, name, sanitize_title(name))
            self.tags[found.id] = found
            self._next_term_id += 1
        return found.id

    # ------------------------------------------------------------------ writes: products

    def prepare_product(self, params: dict[str, Any], existing: ProductRecord | None = None) -> ProductRecord:
        """A draft with the request applied: a copy of `existing`, or a new product (id 0)."""
        with self.lock:
            draft = copy.deepcopy(existing) if existing else ProductRecord(category_ids=[DEFAULT_CATEGORY_ID])
            apply_product_params(self, draft, params)
            return draft

    def prepare_variation(
        self, parent: ProductRecord | None, params: dict[str, Any], existing: ProductRecord | None = None
    ) -> ProductRecord:
        """A variation draft; new variations default to status publish and tax class "parent"."""
        with self.lock:
            if existing is not None:
                draft = copy.deepcopy(existing)
            else:
                draft = ProductRecord(type="variation", parent_id=parent.id if parent else 0, tax_class="parent")
                draft.reviews_allowed = False
            apply_variation_params(self, draft, parent, params)
            return draft

    def commit(self, draft: ProductRecord) -> ProductRecord:
        """Save a draft (`$product->save()`): ids, SKU lock, derived props, slugs, meta ids."""
        with self.lock:
            creating = draft.id == 0
            if creating and not draft.is_variation and draft.sku and self._lookup_table_has(draft.sku, exclude_id=0):
                self._next_post_id += 1  # the post was inserted, then deleted again
                raise WCError(
                    "woocommerce_rest_product_not_created",
                    f"The product with SKU ({draft.sku}) you are trying to insert is already present in the lookup table",
                    400,
                )
            if creating:
                draft.id = self.allocate_post_id()
            draft.date_modified = now_utc()
            derive_stock_status(draft)
            self._finish_slug(draft)
            for meta in draft.meta_data:
                if not meta["id"]:
                    meta["id"] = self._next_meta_id
                    self._next_meta_id += 1
            self.put(draft)
            self.objects_written += 1
            return draft

    def _finish_slug(self, record: ProductRecord) -> None:
        """wp_insert_post: drafts keep an empty post_name; other statuses get a unique one."""
        if record.is_variation or record.status == "trash":
            return
        if record.status in DRAFT_STATUSES:
            return
        base = record.slug or sanitize_title(record.name) or str(record.id)
        record.slug = self.unique_slug(base, record.id)

    def unique_slug(self, base: str, exclude_id: int) -> str:
        """`wp_unique_post_slug` among products: base, base-2, base-3, ..."""
        candidate, suffix = base, 2
        while self._slugs.ids(candidate) - {exclude_id}:
            candidate, suffix = f"{base}-{suffix}", suffix + 1
        return candidate

    # ------------------------------------------------------------------ deletes

    def trash(self, record: ProductRecord) -> None:
        """`wp_trash_post`: status trash, slug "<slug>__trashed", trash meta; variations follow."""
        with self.lock:
            targets = [record] + ([] if record.is_variation else self.children(record.id))
            for target in targets:
                self._unindex(target)
                for key, value in (
                    ("_wp_trash_meta_status", target.status),
                    ("_wp_trash_meta_time", str(int(time.time()))),
                    ("_wp_desired_post_slug", target.slug),
                ):
                    target.meta_data.append({"id": self._next_meta_id, "key": key, "value": value})
                    self._next_meta_id += 1
                target.status = "trash"
                target.slug = f"{target.slug}__trashed"
                self._index(target)

    def delete(self, record: ProductRecord) -> None:
        """Permanent delete; a product takes its variations with it."""
        with self.lock:
            for child in self.children(record.id, include_trash=True):
                self._remove(child)
            self._remove(record)

    # ------------------------------------------------------------------ media

    def add_media(
        self,
        *,
        filename: str,
        data: bytes,
        mime_type: str,
        title: str | None,
        site_url: str,
        size: tuple[int, int] | None = None,
        source: str = "",
    ) -> MediaItem:
        """Store an upload under uploads/YYYY/MM/ with a unique file name (`name-1.png`, ...).

        `title=None` titles the item with its final file name, as sideloaded images are.
        """
        with self.lock:
            moment = now_utc()
            folder = moment.strftime("%Y/%m")
            unique_name = self._unique_filename(folder, filename)
            file = f"{folder}/{unique_name}"
            title = unique_name if title is None else title
            slug_base = sanitize_title(title) or str(self._next_post_id)
            item = MediaItem(
                id=self.allocate_post_id(),
                file=file,
                mime_type=mime_type,
                data=data,
                title=title,
                slug=self._unique_media_slug(slug_base),
                width=size[0] if size else None,
                height=size[1] if size else None,
                sha256=hashlib.sha256(data).hexdigest(),
                source_url=f"{site_url}/wp-content/uploads/{file}",
                source=source,
                date_created=moment,
            )
            self.media[item.id] = item
            self.media_created += 1
            return item

    def _unique_filename(self, folder: str, filename: str) -> str:
        """`wp_unique_filename`: cap-red.png, cap-red-1.png, cap-red-2.png, ..."""
        taken = {m.file for m in self.media.values()}
        stem, dot, ext = filename.rpartition(".")
        stem, ext = (stem, "." + ext) if dot else (filename, "")
        candidate, index = filename, 1
        while f"{folder}/{candidate}" in taken:
            candidate, index = f"{stem}-{index}{ext}", index + 1
        return candidate

    def _unique_media_slug(self, base: str) -> str:
        taken = {m.slug for m in self.media.values()}
        candidate, suffix = base, 2
        while candidate in taken:
            candidate, suffix = f"{base}-{suffix}", suffix + 1
        return candidate

    def media_is_image(self, media_id: int) -> bool:
        """`wp_attachment_is_image`."""
        item = self.media.get(media_id)
        return item is not None and item.is_image

    def remove_media(self, media_ids: Iterable[int]) -> None:
        with self.lock:
            for media_id in media_ids:
                self.media.pop(media_id, None)

    def find_media_by_file(self, file: str) -> MediaItem | None:
        return next((m for m in self.media.values() if m.file == file), None)

    # ------------------------------------------------------------------ derived values

    def variable_summary(self, parent: ProductRecord) -> dict[str, Any]:
        """What a variable product derives from its variations (`WC_Product_Variable::sync`)."""
        kids = self.children(parent.id)
        visible = [k for k in kids if k.status in ("publish", "private")]
        priced = [k for k in visible if k.status == "publish" and current_price(k) != ""]
        prices = sorted(float(current_price(k)) for k in priced if is_numeric(current_price(k)))
        statuses = {k.stock_status for k in kids}
        stock = "instock" if "instock" in statuses else "onbackorder" if "onbackorder" in statuses else "outofstock"
        return {
            "variation_ids": [k.id for k in visible],
            "price": _min_price_text(priced),
            "min": prices[0] if prices else None,
            "max": prices[-1] if prices else None,
            "on_sale": any(is_on_sale(k) for k in priced),
            "purchasable": bool(priced),
            "stock_status": stock,
        }

    def effective_price(self, record: ProductRecord) -> str:
        if record.type == "variable":
            return self.variable_summary(record)["price"]
        if record.type == "grouped":
            return ""
        return current_price(record)

    def effective_stock_status(self, record: ProductRecord) -> str:
        if record.type == "variable" and not record.manage_stock:
            return self.variable_summary(record)["stock_status"]
        return record.stock_status


def is_on_sale(record: ProductRecord) -> bool:
    """`WC_Product::is_on_sale`: a sale price below the regular price, within its dates."""
    if record.sale_price == "" or not is_numeric(record.sale_price):
        return False
    if not is_numeric(record.regular_price) or float(record.regular_price) <= float(record.sale_price):
        return False
    now = now_utc()
    if record.date_on_sale_from and record.date_on_sale_from > now:
        return False
    return not (record.date_on_sale_to and record.date_on_sale_to < now)


def current_price(record: ProductRecord) -> str:
    """The `_price` WooCommerce stores: the sale price while on sale, else the regular price."""
    return record.sale_price if is_on_sale(record) else record.regular_price


def _min_price_text(records: list[ProductRecord]) -> str:
    if not records:
        return ""
    numeric = [r for r in records if is_numeric(current_price(r))]
    if not numeric:
        return ""
    return current_price(min(numeric, key=lambda r: float(current_price(r))))
