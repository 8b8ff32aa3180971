"""Control endpoints under /__sim__ (not WooCommerce): stats, knobs, state dumps, reset.

They need no authentication and are never delayed, throttled or counted.

GET  /__sim__/stats          {"requests": {"GET /products": n, ...}, "objects_written": n, "media_created": n, "uploads_peak": n}
POST /__sim__/stats/reset    zero the counters (answers the zeroed stats)
GET  /__sim__/config         knobs + store settings
PUT  /__sim__/config         partial update of knobs and/or settings (400 on unknown names/bad values)
GET  /__sim__/products       every product and variation (trash included), internal form; ?sku= filter
GET  /__sim__/media          the media library without the bytes
POST /__sim__/reset          wipe products, media, terms and stats
GET  /__sim__/keys           the REST API keys: key_id, consumer_key, permissions, description
GET  /__sim__/app-passwords  the application passwords made by authorize-application.php (no secrets)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from simulators.woocommerce.records import KNOB_NAMES
from simulators.woocommerce.state import StoreState

SETTING_NAMES = {"weight_unit": "weight_unit", "dimension_unit": "dimension_unit", "manage_stock": "manage_stock_option"}


def config_of(store: StoreState) -> dict[str, Any]:
    """Knobs and the store settings a test may want to flip, as one flat object."""
    return {**store.knobs.as_dict(), **{name: getattr(store, attr) for name, attr in SETTING_NAMES.items()}}


def update_config(store: StoreState, changes: dict[str, Any]) -> None:
    """Apply a partial config; raises ValueError naming what is wrong."""
    unknown = sorted(set(changes) - set(KNOB_NAMES) - set(SETTING_NAMES))
    if unknown:
        raise ValueError(f"unknown config name(s): {', '.join(unknown)}")
    with store.lock:
        store.knobs.update({k: v for k, v in changes.items() if k in KNOB_NAMES})
        for name, attr in SETTING_NAMES.items():
            if name in changes:
                setattr(store, attr, str(changes[name]))


def build_control_router(store: StoreState) -> APIRouter:
    router = APIRouter(prefix="/__sim__")

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        return store.stats()

    @router.post("/stats/reset")
    async def reset_stats() -> dict[str, Any]:
        with store.lock:
            store.reset_stats()
        return store.stats()

    @router.get("/config")
    async def get_config() -> dict[str, Any]:
        return config_of(store)

    @router.put("/config")
    async def put_config(request: Request) -> JSONResponse:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            update_config(store, changes)
        except ValueError as exc:  # includes JSON decoding errors
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(config_of(store))

    @router.get("/products")
    async def all_products(sku: str | None = None) -> list[dict[str, Any]]:
        with store.lock:
            records = sorted(store.products.values(), key=lambda r: r.id)
            if sku is not None:
                records = [r for r in records if r.sku.casefold() == sku.casefold()]
            return [r.as_dict() for r in records]

    @router.get("/media")
    async def all_media() -> list[dict[str, Any]]:
        with store.lock:
            return [m.as_dict() for m in sorted(store.media.values(), key=lambda m: m.id)]

    @router.get("/keys")
    async def keys() -> list[dict[str, Any]]:
        with store.lock:
            return [{"key_id": k.key_id, "consumer_key": k.key, "permissions": k.permissions,
                     "description": k.description} for k in store.consumer_keys.values()]

    @router.get("/app-passwords")
    async def app_passwords() -> list[dict[str, Any]]:
        with store.lock:
            return [{"user": p.user, "name": p.name, "app_id": p.app_id} for p in store.granted_app_passwords]

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        store.reset()
        return {"ok": True}

    return router
