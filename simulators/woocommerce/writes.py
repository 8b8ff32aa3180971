"""Write operations of the products and variations controllers, single and batch.

Each write is draft → images → commit (see `state.py`). A failed *create* removes the media it
sideloaded; a failed *update* leaves them behind as orphans, as WooCommerce does. Batches run
their items one after the other (creates, then updates, then deletes) with no transaction, and
answer 200 with per-item results; only going over the batch limit fails the whole request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulators.woocommerce.errors import (
    FatalError,
    WCError,
    critical_error,
    invalid_id,
    variation_via_product_endpoint,
)
from simulators.woocommerce.images import Fetch, attach_product_images, attach_variation_image
from simulators.woocommerce.records import ProductRecord
from simulators.woocommerce.state import StoreState
from simulators.woocommerce.wp import intval, php_empty

Render = Callable[[ProductRecord], dict[str, Any]]


@dataclass
class Writer:
    """Performs writes against one store; `site` is the address media URLs are built with."""

    store: StoreState
    site: str
    fetch: Fetch

    async def item_latency(self) -> None:
        """per_item_latency_ms, paid for every object written (asyncio.sleep: requests overlap)."""
        delay = self.store.knobs.per_item_latency_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000)

    # ------------------------------------------------------------------ products

    async def create_product(self, params: dict[str, Any]) -> ProductRecord:
        _refuse_existing_id(params, "product")
        created: list[int] = []
        try:
            draft = self.store.prepare_product(params)
            if "images" in params:
                await attach_product_images(self.store, draft, params["images"], site_url=self.site, fetch=self.fetch, created=created)
            return self.store.commit(draft)
        except WCError:
            self.store.remove_media(created)  # create_item deletes the images of a failed create
            raise

    async def update_product(self, product_id: int, params: dict[str, Any]) -> ProductRecord:
        existing = self.store.get(product_id)
        if existing is None:
            raise invalid_id("product", 400)  # update_item: 400, not 404 (capture 27)
        if existing.is_variation:
            raise variation_via_product_endpoint()
        draft = self.store.prepare_product(params, existing)
        if "images" in params:
            await attach_product_images(self.store, draft, params["images"], site_url=self.site, fetch=self.fetch, created=[])
        return self.store.commit(draft)

    def delete_product(self, product_id: int, *, force: bool, render: Render) -> dict[str, Any]:
        """Trash (410 when already trashed) or, with force, delete; answers the object as it was."""
        record = self.store.get(product_id)
        if record is None:
            raise invalid_id("product", 404)
        if record.is_variation:
            raise variation_via_product_endpoint()
        return self._delete(record, force=force, render=render)

    def _delete(self, record: ProductRecord, *, force: bool, render: Render) -> dict[str, Any]:
        body = render(record)
        if force:
            self.store.delete(record)
        elif record.status == "trash":
            raise WCError("woocommerce_rest_already_trashed", f"The {record.post_type} has already been deleted.", 410)
        else:
            self.store.trash(record)
        return body

    # ------------------------------------------------------------------ variations

    def parent_of(self, product_id: int) -> ProductRecord | None:
        parent = self.store.get(product_id)
        return parent if parent is not None and not parent.is_variation else None

    async def create_variation(self, product_id: int, params: dict[str, Any]) -> ProductRecord:
        _refuse_existing_id(params, "product_variation")
        parent = self.parent_of(product_id)
        created: list[int] = []
        try:
            draft = self.store.prepare_variation(parent, params)
            if parent is None:
                # The live store dies with a PHP fatal here (and leaves an orphan variation).
                raise critical_error()
            if "image" in params:
                await attach_variation_image(self.store, draft, params["image"], site_url=self.site, fetch=self.fetch, created=created)
            return self.store.commit(draft)
        except WCError:
            self.store.remove_media(created)
            raise

    def variation(self, product_id: int, variation_id: int, *, status: int = 404) -> ProductRecord:
        """A variation that belongs to `product_id`, or `woocommerce_rest_product_variation_invalid_id`."""
        record = self.store.get(variation_id)
        if record is None or not record.is_variation or record.parent_id != product_id:
            raise invalid_id("product_variation", status)
        return record

    async def update_variation(self, product_id: int, variation_id: int, params: dict[str, Any]) -> ProductRecord:
        record = self.store.get(variation_id)
        if record is not None and record.is_variation and record.parent_id != product_id:
            raise WCError("woocommerce_rest_cannot_edit", "Parent product does not match current variation.", 403)
        existing = self.variation(product_id, variation_id)
        draft = self.store.prepare_variation(self.parent_of(product_id), params, existing)
        if "image" in params:
            await attach_variation_image(self.store, draft, params["image"], site_url=self.site, fetch=self.fetch, created=[])
        return self.store.commit(draft)

    def delete_variation(self, product_id: int, variation_id: int, *, force: bool, render: Render) -> dict[str, Any]:
        return self._delete(self.variation(product_id, variation_id), force=force, render=render)

    # ------------------------------------------------------------------ batches

    def check_batch_limit(self, body: dict[str, Any]) -> None:
        """`check_batch_limit`: create + update + delete counted together."""
        limit = self.store.knobs.batch_limit
        total = sum(len(body[key]) for key in ("create", "update", "delete") if isinstance(body.get(key), list))
        if total > limit:
            raise WCError(
                "woocommerce_rest_request_entity_too_large", f"Unable to accept more than {limit} items for this request.", 413
            )

    async def product_batch(
        self, body: dict[str, Any], query: dict[str, Any], *, render: Render, render_deleted: Render
    ) -> dict[str, Any]:
        self.check_batch_limit(body)
        return await self._batch(
            body,
            create=lambda item: self.create_product({**query, **item}),
            update=lambda item: self.update_product(intval(item.get("id")), item),
            delete=lambda object_id: self.delete_product(object_id, force=True, render=render_deleted),
            render=render,
            delete_echo=lambda object_id: object_id,
        )

    async def variation_batch(
        self, product_id: int, body: dict[str, Any], *, render: Render, render_deleted: Render
    ) -> dict[str, Any]:
        self.check_batch_limit(body)

        def inject(item: dict[str, Any]) -> dict[str, Any]:
            return {"product_id": product_id, **item}  # the batch override injects the URL's product_id

        return await self._batch(
            body,
            create=lambda item: self.create_variation(intval(inject(item)["product_id"]), inject(item)),
            update=lambda item: self.update_variation(intval(inject(item)["product_id"]), intval(item.get("id")), inject(item)),
            delete=lambda object_id: self.delete_variation(product_id, object_id, force=True, render=render_deleted),
            render=render,
            delete_echo=lambda object_id: {"id": object_id, "product_id": product_id, "force": True},
        )

    async def _batch(
        self,
        body: dict[str, Any],
        *,
        create: Callable[[dict[str, Any]], Any],
        update: Callable[[dict[str, Any]], Any],
        delete: Callable[[int], dict[str, Any]],
        render: Render,
        delete_echo: Callable[[int], Any],
    ) -> dict[str, Any]:
        """`WC_REST_Controller::batch_items`: only the keys sent (and non-empty) come back."""
        response: dict[str, Any] = {}
        for item in _items(body, "create"):
            await self.item_latency()
            response.setdefault("create", []).append(await _attempt(lambda item=item: create(item), render, error_id=0))
        for item in _items(body, "update"):
            await self.item_latency()
            response.setdefault("update", []).append(await _attempt(lambda item=item: update(item), render, error_id=item.get("id")))
        for raw_id in body.get("delete") if isinstance(body.get("delete"), list) else []:
            object_id = intval(raw_id)
            if object_id == 0:
                continue  # WooCommerce skips 0 without a result entry, shifting indexes
            await self.item_latency()
            results = response.setdefault("delete", [])
            try:
                results.append(delete(object_id))
            except WCError as exc:
                results.append({"id": delete_echo(object_id), "error": exc.item_error()})
        return response


def _refuse_existing_id(params: dict[str, Any], post_type: str) -> None:
    """create_item refuses a body that carries an id."""
    if not php_empty(params.get("id")):
        raise WCError(f"woocommerce_rest_{post_type}_exists", f"Cannot create existing {post_type}.", 400)


def _items(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = body.get(key)
    if php_empty(value) or not isinstance(value, list):
        return []
    return [item if isinstance(item, dict) else {} for item in value]


async def _attempt(action: Callable[[], Any], render: Render, *, error_id: Any) -> dict[str, Any]:
    try:
        record = await action()
    except FatalError:
        raise
    except WCError as exc:
        return {"id": error_id, "error": exc.item_error()}
    return render(record)
