"""Request parsing and response building the way the WordPress REST server does them.

- Parameters: WordPress reads `$request['x']` from the JSON body first, then a form body, then
  the query string, then the URL. So `PUT /products/1?sku=A` sets the SKU, and a body `id` beats
  the id in the URL. `Incoming.merged` reproduces that precedence.
- Responses: `wp_json_encode` with default flags (slashes and non-ASCII escaped), content type
  `application/json; charset=UTF-8`, and the `Link: <…/wp-json/>; rel="https://api.w.org/"`
  header, which a collection's prev/next `Link` replaces (capture 24).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import Response

from simulators.woocommerce.errors import WCError
from simulators.woocommerce.render import RenderContext
from simulators.woocommerce.schema import parse_list
from simulators.woocommerce.state import StoreState
from simulators.woocommerce.wp import parse_php_query, php_urlencode

JSON_TYPE = "application/json; charset=UTF-8"


@dataclass
class Incoming:
    """The parameters of one request, split by source."""

    query: dict[str, Any] = field(default_factory=dict)  # $_GET
    body: dict[str, Any] = field(default_factory=dict)  # JSON or form body
    query_pairs: list[tuple[str, str]] = field(default_factory=list)  # as sent, for Link headers

    def merged(self, url: dict[str, Any] | None = None) -> dict[str, Any]:
        """All parameters with WordPress's precedence: body > query string > URL."""
        return {**(url or {}), **self.query, **self.body}


def is_json_type(content_type: str) -> bool:
    """`wp_is_json_media_type`: application/json or any +json type."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def read_incoming(request: Request) -> Incoming:
    """Parse query and body; a malformed JSON body is WordPress's 400 `rest_invalid_json`."""
    pairs = request.query_params.multi_items()
    incoming = Incoming(query=parse_php_query(pairs), query_pairs=pairs)
    content_type = request.headers.get("content-type", "")
    raw = await request.body()
    if raw and is_json_type(content_type):
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise WCError(
                "rest_invalid_json",
                "Invalid JSON body passed.",
                400,
                {"json_error_code": 4, "json_error_message": "Syntax error"},
            ) from None
        incoming.body = parsed if isinstance(parsed, dict) else {}
    elif raw and content_type.startswith("application/x-www-form-urlencoded"):
        incoming.body = parse_php_query(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return incoming


def site_of(store: StoreState, request: Request) -> str:
    """The store address: the configured site URL, else this request's scheme://host:port."""
    return store.site_url or f"{request.url.scheme}://{request.url.netloc}"


def render_context(store: StoreState, request: Request, params: dict[str, Any], *, context: str | None = None) -> RenderContext:
    meta_in = [str(v) for v in parse_list(params.get("include_meta")) or []]
    meta_out = [str(v) for v in parse_list(params.get("exclude_meta")) or []]
    return RenderContext(
        site=site_of(store, request),
        context=context or (params.get("context") if params.get("context") in ("view", "edit") else "view"),
        include_meta=meta_in or None,
        exclude_meta=meta_out or None,
    )


def encode(data: Any, *, pretty: bool = False) -> bytes:
    """`wp_json_encode($data, 0)`: "/" becomes "\\/" and non-ASCII is \\u-escaped, like PHP."""
    text = json.dumps(data, ensure_ascii=True, indent=4 if pretty else None, separators=None if pretty else (",", ":"))
    return text.replace("/", "\\/").encode()


def wp_response(
    store: StoreState,
    request: Request,
    data: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A WordPress REST response with its usual headers."""
    out = {"Link": f'<{site_of(store, request)}/wp-json/>; rel="https://api.w.org/"'}
    out.update(headers or {})
    pretty = "_pretty" in request.query_params
    return Response(encode(data, pretty=pretty), status_code=status, media_type=None, headers={"Content-Type": JSON_TYPE, **out})


def error_response(store: StoreState, request: Request, error: WCError) -> Response:
    return wp_response(store, request, error.body(), error.status, error.headers)


def only_fields(data: Any, params: dict[str, Any]) -> Any:
    """`_fields`: keep the requested top-level names, in the requested order; dotted names and
    `_links` (unless asked for) are dropped."""
    wanted = [f.strip() for f in parse_list(params.get("_fields")) or [] if f.strip() and "." not in f]
    if params.get("_fields") in (None, "") or not isinstance(data, (dict, list)):
        return data
    wanted = list(dict.fromkeys(wanted))

    def trim(item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in wanted if name in item}

    return [trim(item) for item in data] if isinstance(data, list) else trim(data)


def paging_headers(
    site: str, route: str, incoming: Incoming, page: int, total: int, total_pages: int
) -> dict[str, str]:
    """X-WP-Total, X-WP-TotalPages and, when there are neighbours, Link rel=prev/next.

    The links carry the request's query string (PHP `$_GET` order, values urlencoded) with `page`
    replaced in place or appended, as `add_query_arg` builds them.
    """
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(total_pages)}
    links = []
    if page > 1:
        links.append(f'<{_page_url(site, route, incoming, min(page - 1, max(total_pages, 1)))}>; rel="prev"')
    if total_pages > page:
        links.append(f'<{_page_url(site, route, incoming, page + 1)}>; rel="next"')
    if links:
        headers["Link"] = ", ".join(links)
    return headers


def _page_url(site: str, route: str, incoming: Incoming, page: int) -> str:
    params: dict[str, str] = {}
    for key, value in incoming.query_pairs:
        params[key] = value  # PHP: the last value wins, the first position stays
    params["page"] = str(page)
    query = "&".join(f"{php_urlencode(k)}={php_urlencode(v)}" for k, v in params.items())
    return f"{site}/wp-json/wc/v3{route}?{query}"
