"""The wc/v3 routes: index, products, variations, batches and product settings.

Every handler follows `WP_REST_Server::dispatch`: parameters are validated against the route's
schema first (400 `rest_invalid_param`), then the permission callback runs (401 when logged out;
item routes only refuse when the object exists), then the controller method.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from simulators.woocommerce import listing
from simulators.woocommerce.auth import permission_error
from simulators.woocommerce.errors import WCError, invalid_id
from simulators.woocommerce.httpio import (
    Incoming,
    only_fields,
    paging_headers,
    read_incoming,
    render_context,
    site_of,
    wp_response,
)
from simulators.woocommerce.images import Fetch
from simulators.woocommerce.records import ProductRecord
from simulators.woocommerce.render import product_json, product_settings, setting_json, variation_json
from simulators.woocommerce.schema import (
    CONTEXT_ARGS,
    DELETE_ARGS,
    PRODUCT_LIST_ARGS,
    PRODUCT_UPDATE_ARGS,
    PRODUCT_WRITE_ARGS,
    VARIATION_LIST_ARGS,
    VARIATION_UPDATE_ARGS,
    VARIATION_WRITE_ARGS,
    validate_args,
)
from simulators.woocommerce.state import StoreState
from simulators.woocommerce.wp import intval, string_to_bool
from simulators.woocommerce.writes import Writer

API = "/wp-json/wc/v3"
WRITE = ["POST", "PUT", "PATCH"]


def deny_unless_logged_in(request: Request, action: str) -> None:
    error = permission_error(action, getattr(request.state, "principal", None))
    if error is not None:
        raise error


def build_wc_router(store: StoreState, fetch: Fetch) -> APIRouter:
    """All wc/v3 routes of the simulator, bound to `store`."""
    router = APIRouter()
    _index_routes(router, store)
    _product_routes(router, store, fetch)
    _variation_routes(router, store, fetch)
    _settings_routes(router, store)
    return router


async def _params(request: Request, args: dict[str, Any]) -> tuple[Incoming, dict[str, Any]]:
    """Read and validate a request's parameters (URL path parameters included)."""
    incoming = await read_incoming(request)
    params = incoming.merged(dict(request.path_params))
    validate_args(args, params)
    return incoming, params


def _force(params: dict[str, Any]) -> bool:
    return string_to_bool(params.get("force")) if params.get("force") is not None else False


# ------------------------------------------------------------------ index


def _index_routes(router: APIRouter, store: StoreState) -> None:
    @router.get(API)
    async def namespace_index(request: Request) -> Response:
        site = site_of(store, request)
        routes = {
            "/wc/v3": (["GET"], {}),
            "/wc/v3/products": (["GET", "POST"], PRODUCT_WRITE_ARGS),
            "/wc/v3/products/(?P<id>[\\d]+)": (["GET", *WRITE, "DELETE"], PRODUCT_UPDATE_ARGS),
            "/wc/v3/products/batch": (WRITE, PRODUCT_WRITE_ARGS),
            "/wc/v3/products/(?P<product_id>[\\d]+)/variations": (["GET", "POST"], VARIATION_WRITE_ARGS),
            "/wc/v3/products/(?P<product_id>[\\d]+)/variations/(?P<id>[\\d]+)": (["GET", *WRITE, "DELETE"], VARIATION_UPDATE_ARGS),
            "/wc/v3/products/(?P<product_id>[\\d]+)/variations/batch": (WRITE, VARIATION_WRITE_ARGS),
            "/wc/v3/settings/(?P<group_id>[\\w-]+)": (["GET"], {}),
            "/wc/v3/settings/(?P<group_id>[\\w-]+)/(?P<id>[\\w-]+)": (["GET", *WRITE], {}),
        }
        body = {
            "namespace": "wc/v3",
            "_trimmed": "Simulator: product, variation and settings routes only.",
            "routes": {
                path: {"namespace": "wc/v3", "methods": methods, "endpoints": [{"methods": methods, "args": args}]}
                for path, (methods, args) in routes.items()
            },
            "_links": {"up": [{"href": f"{site}/wp-json/"}]},
        }
        return wp_response(store, request, body)


# ------------------------------------------------------------------ products


def _product_routes(router: APIRouter, store: StoreState, fetch: Fetch) -> None:
    def writer(request: Request) -> Writer:
        return Writer(store, site_of(store, request), fetch)

    def edit_json(request: Request, params: dict[str, Any], record: ProductRecord) -> dict[str, Any]:
        return product_json(store, render_context(store, request, params, context="edit"), record)

    @router.get(f"{API}/products")
    async def list_products(request: Request) -> Response:
        incoming, params = await _params(request, PRODUCT_LIST_ARGS)
        deny_unless_logged_in(request, "list")
        return _collection(store, request, incoming, params, listing.select(store, params), "/products", product_json)

    @router.post(f"{API}/products")
    async def create_product(request: Request) -> Response:
        _, params = await _params(request, PRODUCT_WRITE_ARGS)
        deny_unless_logged_in(request, "create")
        write = writer(request)
        await write.item_latency()
        record = await write.create_product(params)
        location = {"Location": f"{site_of(store, request)}{API}/products/{record.id}"}
        return wp_response(store, request, only_fields(edit_json(request, params, record), params), 201, location)

    @router.api_route(f"{API}/products/batch", methods=WRITE)
    async def batch_products(request: Request) -> Response:
        incoming, params = await _params(request, {})
        deny_unless_logged_in(request, "batch")
        render = lambda record: only_fields(edit_json(request, params, record), params)  # noqa: E731
        deleted = lambda record: edit_json(request, params, record)  # noqa: E731
        result = await writer(request).product_batch(incoming.body, incoming.query, render=render, render_deleted=deleted)
        return _gateway_timeout(store, incoming.body) or wp_response(store, request, result or [])

    @router.get(f"{API}/products/{{id:int}}")
    async def get_product(request: Request) -> Response:
        _, params = await _params(request, CONTEXT_ARGS)
        record = store.get(intval(params["id"]))
        if record is not None:
            deny_unless_logged_in(request, "view")
        if record is None:
            raise invalid_id("product", 404)
        data = product_json(store, render_context(store, request, params), record)
        return wp_response(store, request, only_fields(data, params))

    @router.api_route(f"{API}/products/{{id:int}}", methods=WRITE)
    async def update_product(request: Request) -> Response:
        _, params = await _params(request, PRODUCT_UPDATE_ARGS)
        if store.get(intval(params["id"])) is not None:
            deny_unless_logged_in(request, "edit")
        write = writer(request)
        await write.item_latency()
        record = await write.update_product(intval(params["id"]), params)
        return wp_response(store, request, only_fields(edit_json(request, params, record), params))

    @router.delete(f"{API}/products/{{id:int}}")
    async def delete_product(request: Request) -> Response:
        _, params = await _params(request, DELETE_ARGS)
        if store.get(intval(params["id"])) is not None:
            deny_unless_logged_in(request, "delete")
        write = writer(request)
        await write.item_latency()
        body = write.delete_product(
            intval(params["id"]), force=_force(params), render=lambda r: edit_json(request, params, r)
        )
        return wp_response(store, request, only_fields(body, params))


def _collection(
    store: StoreState,
    request: Request,
    incoming: Incoming,
    params: dict[str, Any],
    records: list[ProductRecord],
    route: str,
    render: Any,
) -> Response:
    """A page of a collection with X-WP-Total, X-WP-TotalPages and Link headers."""
    rows, total, pages = listing.paginate(records, params)
    ctx = render_context(store, request, params)
    data = only_fields([render(store, ctx, record) for record in rows], params)
    page = intval(params.get("page") or 1)
    return wp_response(store, request, data, headers=paging_headers(ctx.site, route, incoming, page, total, pages))


# ------------------------------------------------------------------ variations


def _variation_routes(router: APIRouter, store: StoreState, fetch: Fetch) -> None:
    base = f"{API}/products/{{product_id:int}}/variations"

    def writer(request: Request) -> Writer:
        return Writer(store, site_of(store, request), fetch)

    def edit_json(request: Request, params: dict[str, Any], record: ProductRecord, *, hints: bool = True) -> dict[str, Any]:
        return variation_json(store, render_context(store, request, params, context="edit"), record, hints=hints)

    @router.get(base)
    async def list_variations(request: Request) -> Response:
        incoming, params = await _params(request, VARIATION_LIST_ARGS)
        deny_unless_logged_in(request, "list")
        product_id = intval(params["product_id"])
        records = listing.select(store, params, variations_of=product_id)
        return _collection(store, request, incoming, params, records, f"/products/{product_id}/variations", variation_json)

    @router.post(base)
    async def create_variation(request: Request) -> Response:
        _, params = await _params(request, VARIATION_WRITE_ARGS)
        deny_unless_logged_in(request, "create")
        write = writer(request)
        await write.item_latency()
        record = await write.create_variation(intval(params["product_id"]), params)
        location = {"Location": f"{site_of(store, request)}{API}/products/{record.parent_id}/variations/{record.id}"}
        return wp_response(store, request, only_fields(edit_json(request, params, record), params), 201, location)

    @router.api_route(f"{base}/batch", methods=WRITE)
    async def batch_variations(request: Request) -> Response:
        incoming, params = await _params(request, {})
        deny_unless_logged_in(request, "batch")
        result = await writer(request).variation_batch(
            intval(params["product_id"]),
            incoming.body,
            render=lambda r: edit_json(request, params, r),
            render_deleted=lambda r: edit_json(request, params, r, hints=False),
        )
        return _gateway_timeout(store, incoming.body) or wp_response(store, request, result or [])

    @router.get(f"{base}/{{id:int}}")
    async def get_variation(request: Request) -> Response:
        _, params = await _params(request, {"product_id": VARIATION_UPDATE_ARGS["product_id"], **CONTEXT_ARGS})
        record = writer(request).variation(intval(params["product_id"]), intval(params["id"]))
        deny_unless_logged_in(request, "view")
        data = variation_json(store, render_context(store, request, params), record)
        return wp_response(store, request, only_fields(data, params))

    @router.api_route(f"{base}/{{id:int}}", methods=WRITE)
    async def update_variation(request: Request) -> Response:
        _, params = await _params(request, VARIATION_UPDATE_ARGS)
        if store.get(intval(params["id"])) is not None:
            deny_unless_logged_in(request, "edit")
        write = writer(request)
        await write.item_latency()
        record = await write.update_variation(intval(params["product_id"]), intval(params["id"]), params)
        return wp_response(store, request, only_fields(edit_json(request, params, record), params))

    @router.delete(f"{base}/{{id:int}}")
    async def delete_variation(request: Request) -> Response:
        _, params = await _params(request, {"product_id": VARIATION_UPDATE_ARGS["product_id"], **DELETE_ARGS})
        if store.get(intval(params["id"])) is not None:
            deny_unless_logged_in(request, "delete")
        write = writer(request)
        await write.item_latency()
        body = write.delete_variation(
            intval(params["product_id"]),
            intval(params["id"]),
            force=_force(params),
            render=lambda r: edit_json(request, params, r, hints=False),
        )
        return wp_response(store, request, only_fields(body, params))


# ------------------------------------------------------------------ settings


def _settings_routes(router: APIRouter, store: StoreState) -> None:
    @router.get(f"{API}/settings/products")
    async def list_product_settings(request: Request) -> Response:
        _, params = await _params(request, {})
        deny_unless_logged_in(request, "list")
        ctx = render_context(store, request, params)
        data = [setting_json(ctx, s) for s in product_settings(store).values()]
        return wp_response(store, request, only_fields(data, params))

    @router.get(f"{API}/settings/products/{{id}}")
    async def get_product_setting(request: Request) -> Response:
        _, params = await _params(request, {})
        deny_unless_logged_in(request, "list")
        setting = _setting(store, request.path_params["id"])
        return wp_response(store, request, only_fields(setting_json(render_context(store, request, params), setting), params))

    @router.api_route(f"{API}/settings/products/{{id}}", methods=WRITE)
    async def update_product_setting(request: Request) -> Response:
        _, params = await _params(request, {})
        deny_unless_logged_in(request, "edit")
        setting = _setting(store, request.path_params["id"])
        _store_setting(store, setting, params.get("value"))
        updated = _setting(store, setting["id"])
        return wp_response(store, request, setting_json(render_context(store, request, params), updated))

    @router.api_route(f"{API}/settings/{{group_id}}", methods=["GET"])
    @router.api_route(f"{API}/settings/{{group_id}}/{{id}}", methods=["GET", *WRITE])
    async def other_settings(request: Request) -> Response:
        await _params(request, {})
        deny_unless_logged_in(request, "list")
        raise WCError("rest_setting_setting_group_invalid", "Invalid setting group.", 404)


def _setting(store: StoreState, setting_id: str) -> dict[str, Any]:
    setting = product_settings(store).get(setting_id)
    if setting is None:
        raise WCError("rest_setting_setting_invalid", "Invalid setting.", 404)
    return setting


def _store_setting(store: StoreState, setting: dict[str, Any], value: Any) -> None:
    """Settings writes: select options must be listed, the checkbox takes yes/no."""
    allowed = setting.get("options") or {"yes": "yes", "no": "no"}
    if not isinstance(value, str) or value not in allowed:
        raise WCError("rest_setting_value_invalid", "An invalid setting value was passed.", 400)
    attribute = {
        "woocommerce_weight_unit": "weight_unit",
        "woocommerce_dimension_unit": "dimension_unit",
        "woocommerce_manage_stock": "manage_stock_option",
    }[setting["id"]]
    setattr(store, attribute, value)


def _gateway_timeout(store: StoreState, body: Any) -> Response | None:
    """The `gateway_timeout_over` knob: the batch was written, but the answer never came back."""
    limit = store.knobs.gateway_timeout_over
    total = sum(len(body[key]) for key in ("create", "update", "delete")
                if isinstance(body, dict) and isinstance(body.get(key), list))
    if not limit or total <= limit:
        return None
    return Response("<html><body><h1>504 Gateway Time-out</h1></body></html>", status_code=504,
                    media_type="text/html")
