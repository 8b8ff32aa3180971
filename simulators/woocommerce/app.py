"""The simulated WooCommerce 11.0.1 store as an ASGI app: `create_app(state) -> FastAPI`.

Every request outside /__sim__ goes through `_simulate` before its route:
1. counted in the stats under "METHOD /route/template" (relative to /wp-json/wc/v3, or to
   /wp-json for other namespaces: "POST /wp/v2/media");
2. delayed by `latency_ms` (asyncio.sleep, so concurrent requests overlap);
3. possibly answered by an injected fault (`fail_next`, `rate_429`, `rate_5xx`);
4. for /wp-json routes, authenticated (auth.py); an authentication error answers right away,
   as WordPress's `rest_authentication_errors` does before any route is matched.

The store is reachable as `app.state.store`, so in-process tests can inspect and change it.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from simulators.woocommerce.auth import AuthRequest, authenticate, key_permission_error
from simulators.woocommerce.connect import build_connect_router
from simulators.woocommerce.control import build_control_router
from simulators.woocommerce.errors import WCError
from simulators.woocommerce.httpio import JSON_TYPE, encode, error_response
from simulators.woocommerce.images import Fetch, default_fetch
from simulators.woocommerce.routes_wc import build_wc_router
from simulators.woocommerce.routes_wp import build_wp_router
from simulators.woocommerce.state import StoreState
from simulators.woocommerce.tls import make_self_signed_cert
from simulators.woocommerce.wp import parse_php_query

CallNext = Callable[[Request], Awaitable[Response]]
NO_ROUTE = WCError("rest_no_route", "No route was found matching the URL and request method.", 404)


def create_app(state: StoreState | None = None, *, fetch: Fetch | None = None) -> FastAPI:
    """Build the simulator. `fetch` replaces the HTTP download used for image `src` sideloads."""
    store = state or StoreState()
    app = FastAPI(title="WooCommerce simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    routers = [build_wc_router(store, fetch or default_fetch), build_wp_router(store), build_connect_router(store)]
    app.include_router(build_control_router(store))
    for router in routers:
        app.include_router(router)
    # The simulated routes, for naming requests in the stats (included routers hide them).
    routes = [route for router in routers for route in router.routes]
    _install_error_handlers(app, store)

    @app.middleware("http")
    async def simulate(request: Request, call_next: CallNext) -> Response:
        return await _simulate(routes, store, request, call_next)

    return app


def run(
    host: str = "127.0.0.1",
    port: int = 8102,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
    https: bool = False,
    state: StoreState | None = None,
    **knobs: Any,
) -> None:
    """Serve the simulator (blocking). `knobs` are StoreKnobs fields (latency_ms=50, ...).

    `https=True` without a certificate generates a self-signed one for localhost/127.0.0.1.
    """
    if https and not certfile:
        certfile, keyfile = make_self_signed_cert(tempfile.mkdtemp(prefix="woo-sim-tls-"))
    store = state or StoreState()
    store.knobs.update(knobs)
    uvicorn.run(create_app(store), host=host, port=port, ssl_certfile=certfile, ssl_keyfile=keyfile, log_level="warning")


def _install_error_handlers(app: FastAPI, store: StoreState) -> None:
    @app.exception_handler(WCError)
    async def wc_error(request: Request, exc: WCError) -> Response:
        return error_response(store, request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/wp-json") and exc.status_code in (404, 405):
            return error_response(store, request, NO_ROUTE)
        return Response(str(exc.detail), status_code=exc.status_code, media_type="text/plain")


async def _simulate(routes: list[BaseRoute], store: StoreState, request: Request, call_next: CallNext) -> Response:
    path = request.url.path
    if path.startswith("/__sim__"):
        return await call_next(request)
    if path.startswith("/wp-json/") and path.endswith("/"):
        request.scope["path"] = path.rstrip("/")  # WordPress untrailingslashes the REST route
    store.count_request(route_key(routes, request.scope))
    if store.knobs.latency_ms > 0:
        await asyncio.sleep(store.knobs.latency_ms / 1000)
    fault = injected_fault(store, request)
    if fault is not None:
        return fault
    if path.startswith("/wp-json"):
        request.state.principal = None
        result = authenticate(store, await _auth_request(store, request))
        if result.error is not None:
            return error_response(store, request, result.error)
        denied = key_permission_error(result.principal, request.method)
        if denied is not None:
            return error_response(store, request, denied)
        request.state.principal = result.principal
    return await call_next(request)


def route_key(routes: list[BaseRoute], scope: dict) -> str:
    """ "GET /products/{id}": method + route template, relative to /wp-json/wc/v3 (or /wp-json)."""
    template = None
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            template = route.path_format
            break
        if match == Match.PARTIAL and template is None:
            template = route.path_format
    if template is None:
        return f"{scope['method']} <unmatched>"
    for prefix in ("/wp-json/wc/v3", "/wp-json"):
        if template.startswith(prefix):
            return f"{scope['method']} {template[len(prefix):] or '/'}"
    return f"{scope['method']} {template}"


def injected_fault(store: StoreState, request: Request) -> Response | None:
    """Serve the first matching `fail_next` entry (once), else roll for a 429 or a 503."""
    knobs = store.knobs
    with store.lock:
        for index, fault in enumerate(knobs.fail_next):
            needle = fault.get("path_contains")
            if needle is None or needle in request.url.path:
                del knobs.fail_next[index]
                return _fault_response(fault)
        if knobs.rate_429 > 0 and knobs.rng.random() < knobs.rate_429:
            return Response(_html_page(429, "Too Many Requests"), 429, {"Retry-After": str(knobs.retry_after)}, "text/html")
        if knobs.rate_5xx > 0 and knobs.rng.random() < knobs.rate_5xx:
            return Response(_html_page(503, "Service Unavailable"), 503, media_type="text/html")
    return None


def _html_page(status: int, reason: str) -> str:
    """What a web host or WAF answers in front of WordPress: HTML, not JSON."""
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}"
        "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


def _fault_response(fault: dict) -> Response:
    status = int(fault.get("status", 500))
    headers = {str(k): str(v) for k, v in (fault.get("headers") or {}).items()}
    body = fault.get("body")
    if isinstance(body, (dict, list)):
        return Response(encode(body), status, {"Content-Type": JSON_TYPE, **headers})
    media_type = None if any(k.lower() == "content-type" for k in headers) else "text/html"
    return Response("" if body is None else str(body), status, headers, media_type)


async def _auth_request(store: StoreState, request: Request) -> AuthRequest:
    """The inputs of WordPress authentication: $_GET, $_POST, headers and the URL as WP sees it."""
    form = {}
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_php_query(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    # get_home_url(null, $path, is_ssl() ? 'https' : 'http'): the home host, the request's scheme.
    home = urlsplit(store.site_url) if store.site_url else request.url
    netloc = home.netloc
    return AuthRequest(
        method=request.method,
        is_ssl=request.url.scheme == "https",
        url=f"{request.url.scheme}://{netloc}{raw_path}",
        query=parse_php_query(request.query_params.multi_items()),
        form=form,
        authorization=request.headers.get("authorization"),
        is_wc_route=request.url.path.startswith(("/wp-json/wc/", "/wp-json/wc-")),
    )

