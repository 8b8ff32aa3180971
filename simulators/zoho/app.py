"""HTTP face of the Zoho Inventory simulator: accounts token endpoint, API v1 and control routes.

One app serves all three, so a test points both the accounts base URL and the API domain at the
same server:

- `POST /oauth/v2/token` (refresh and authorization-code grants), `/oauth/v2/token/revoke` and the
  consent page `GET /oauth/v2/auth` (Accept / Deny, simulators/zoho/consent.py): Zoho Accounts.
  `GET /inventory/v1/organizations` lists the orgs a token reaches (no `organization_id` needed).
- `/inventory/v1/...`: the Inventory API. Every call passes `api_gate` (stats, latency, queued
  faults, token, organization, rate limits, random faults) before its handler runs.
- `/__sim__/...`: control routes for tests, the benchmark and the demo. Not Zoho; no auth, never
  delayed, throttled or counted. Item changes made here fire the item workflows, whose webhooks
  are delivered over HTTP in the background (`GET /__sim__/deliveries` shows the log,
  `POST /__sim__/webhooks/redeliver` replays one, `POST /__sim__/items/{id}/touch` fires an edit).
  `PATCH /__sim__/itemgroups/{id}` sets a group's own name, description, brand, unit or image
  (a document id, as Zoho's). `PUT /__sim__/items/{id}/image` stores any bytes as the item's image; the `broken_images` knob
  (`PUT /__sim__/config`) makes listed images fail to download. The `concurrency_limit` knob
  refuses calls over that many in flight (429 code 1070, counted by the `InFlight` middleware).

Behaviour lives in `state.ZohoState`; this module only translates between HTTP and that state.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from simulators.zoho.catalogue import IMAGE_CONTENT_TYPES
from simulators.zoho.consent import ConsentRefused, consent_page, error_page
from simulators.zoho.state import (
    CODE_INVALID_URL,
    SimError,
    ZohoState,
    invalid_value,
)

API_PREFIX = "/inventory/v1"
TOKEN_PATH = "/oauth/v2/token"
AUTH_PATH = "/oauth/v2/auth"
CONTROL_PREFIX = "/__sim__"


def get_state(request: Request) -> ZohoState:
    return request.app.state.zoho


Zoho = Annotated[ZohoState, Depends(get_state)]


# --------------------------------------------------------------------------- plumbing


def _route_key(request: Request) -> str:
    """`GET /items/{item_id}`: method plus route template relative to /inventory/v1."""
    route = request.scope.get("route")
    template = getattr(route, "path_format", request.url.path)
    return f"{request.method} {template.removeprefix(API_PREFIX)}"


async def api_gate(request: Request, zoho: Zoho) -> None:
    """Everything a real Zoho call goes through before its handler; raises SimError to refuse."""
    zoho.record_request(_route_key(request))
    if zoho.knobs.latency_ms:
        await asyncio.sleep(zoho.knobs.latency_ms / 1000)  # asyncio, so concurrent calls overlap
    request.state.rate_headers = zoho.admit_api_call(
        path=request.url.path,
        authorization=request.headers.get("authorization"),
        organization_id=request.query_params.get("organization_id"),
        # GET /organizations is how a client learns its organization ids (no org needed).
        needs_organization=request.url.path != f"{API_PREFIX}/organizations",
    )


def ok(request: Request, payload: dict[str, Any], *, status: int = 200, message: str = "success") -> JSONResponse:
    """Zoho's success envelope plus the rate-limit headers the gate computed."""
    body = {"code": 0, "message": message, **payload}
    return JSONResponse(body, status_code=status, headers=getattr(request.state, "rate_headers", {}))


def error_response(error: SimError) -> Response:
    if isinstance(error.body, (dict, list)):
        return JSONResponse(error.body, status_code=error.status, headers=error.headers)
    return Response(str(error.body), status_code=error.status, headers=error.headers)


async def read_params(request: Request) -> dict[str, str]:
    """Query parameters merged with a form-encoded body (Zoho Accounts accepts both)."""
    params = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    return params


async def read_json(request: Request) -> Any:
    """A JSON body, or Zoho's older `JSONString` form/query field."""
    raw = await request.body()
    params = await read_params(request)
    text = params.get("JSONString") if "JSONString" in params else raw.decode() or "{}"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise invalid_value("JSONString") from None


async def _on_sim_error(request: Request, error: SimError) -> Response:
    return error_response(error)


async def _on_http_error(request: Request, error: StarletteHTTPException) -> Response:
    """Unknown URLs under the API answer in Zoho's envelope; elsewhere FastAPI's default."""
    if request.url.path.startswith(API_PREFIX):
        get_state(request).record_request(f"{request.method} <unmatched>")
        return JSONResponse({"code": CODE_INVALID_URL, "message": "Invalid URL Passed"},
                            status_code=error.status_code)
    return JSONResponse({"detail": error.detail}, status_code=error.status_code)


# --------------------------------------------------------------------------- Zoho Accounts

accounts = APIRouter(tags=["accounts"])


@accounts.post(TOKEN_PATH)
async def token(request: Request, zoho: Zoho) -> Response:
    """Refresh-token grant; bad credentials are HTTP 200 with an `error` field, like Zoho."""
    zoho.record_request(f"POST {TOKEN_PATH}")
    if (fault := zoho.take_fault(request.url.path)) is not None:
        return error_response(fault)
    status, body = zoho.issue_token(await read_params(request), api_domain=str(request.base_url).rstrip("/"))
    return JSONResponse(body, status_code=status)


@accounts.post(f"{TOKEN_PATH}/revoke")
async def revoke(request: Request, zoho: Zoho) -> Response:
    """`{"status": "success"}`, or 400 for a token Zoho does not know (revoke-refresh-token.html)."""
    zoho.record_request(f"POST {TOKEN_PATH}/revoke")
    params = await read_params(request)
    if not zoho.revoke_token(params.get("token", "")):
        return JSONResponse({"status": "failure", "error": "invalid_token"}, status_code=400)
    return JSONResponse({"status": "success"})


@accounts.get(AUTH_PATH)
async def consent(request: Request, zoho: Zoho) -> Response:
    """The consent page, or (with `oauth_home_dc`) a redirect to the user's own data centre."""
    zoho.record_request(f"GET {AUTH_PATH}")
    params = dict(request.query_params)
    if zoho.knobs.oauth_home_dc:
        return RedirectResponse(f"{zoho.knobs.oauth_home_dc}{AUTH_PATH}?{request.url.query}", status_code=302)
    try:
        zoho.consent.check_request(params)
    except ConsentRefused as exc:
        return HTMLResponse(error_page(str(exc)), status_code=400)
    scopes = [s for s in params["scope"].split(",") if s]
    return HTMLResponse(consent_page(params, scopes))


@accounts.post(f"{AUTH_PATH}/{{choice}}")
async def consent_choice(request: Request, choice: str, zoho: Zoho) -> Response:
    """"Accept" or "Deny": back to the client's redirect URI."""
    params = {k: v for k, v in (await read_params(request)).items() if isinstance(v, str)}
    try:
        if choice == "approve":
            target = zoho.consent.approve(params, accounts_server=str(request.base_url).rstrip("/"))
        elif choice == "deny":
            target = zoho.consent.deny(params)
        else:
            return HTMLResponse(error_page("Unknown choice."), status_code=404)
    except ConsentRefused as exc:
        return HTMLResponse(error_page(str(exc)), status_code=400)
    return RedirectResponse(target, status_code=302)


# --------------------------------------------------------------------------- Inventory API

api = APIRouter(dependencies=[Depends(api_gate)], tags=["inventory"])


@api.get("/organizations")
async def list_organizations(request: Request, zoho: Zoho) -> Response:
    return ok(request, {"organizations": zoho.consent.organizations()})


@api.get("/items")
async def list_items(request: Request, zoho: Zoho) -> Response:
    return ok(request, zoho.list_items(request.query_params))


@api.get("/items/{item_id}")
async def get_item(request: Request, item_id: str, zoho: Zoho) -> Response:
    return ok(request, {"item": zoho.get_item(item_id)})


@api.get("/items/{item_id}/image")
async def get_item_image(request: Request, item_id: str, zoho: Zoho) -> Response:
    data, image_type, name = zoho.get_image(item_id)
    headers = {**getattr(request.state, "rate_headers", {}), "Content-Disposition": f'inline; filename="{name}"'}
    media_type = IMAGE_CONTENT_TYPES.get(image_type.lower(), "application/octet-stream")
    return Response(data, media_type=media_type, headers=headers)


@api.get("/itemdetails")
async def item_details(request: Request, zoho: Zoho) -> Response:
    return ok(request, {"items": zoho.item_details(request.query_params.get("item_ids"))})


@api.get("/itemgroups")
async def list_item_groups(request: Request, zoho: Zoho) -> Response:
    return ok(request, zoho.list_item_groups(request.query_params))


@api.get("/itemgroups/{group_id}")
async def get_item_group(request: Request, group_id: str, zoho: Zoho) -> Response:
    return ok(request, {"item_group": zoho.get_item_group(group_id)})


@api.get("/organizations/{organization_id}")
async def get_organization(request: Request, organization_id: str, zoho: Zoho) -> Response:
    """`GET /organizations/{id}` (Zoho: scope settings.READ); the gate has checked the
    `organization_id` parameter, the path's id must be the same organization."""
    if organization_id != zoho.organization_id:
        raise SimError.envelope(404, CODE_INVALID_URL, "Invalid URL Passed")
    return ok(request, {"organization": {"organization_id": zoho.organization_id, "name": zoho.organization_name,
                                         "is_default_org": True, "currency_code": "USD"}})


@api.post("/settings/webhooks")
async def create_webhook(request: Request, zoho: Zoho) -> Response:
    webhook = zoho.create_webhook(_object(await read_json(request)))
    return ok(request, {"webhook": webhook}, status=201, message="The webhook has been created.")


@api.get("/settings/webhooks")
async def list_webhooks(request: Request, zoho: Zoho) -> Response:
    return ok(request, {"webhooks": zoho.list_webhooks()})


@api.get("/settings/webhooks/{webhook_id}")
async def get_webhook(request: Request, webhook_id: str, zoho: Zoho) -> Response:
    return ok(request, {"webhook": zoho.get_webhook(webhook_id)})


@api.delete("/settings/webhooks/{webhook_id}")
async def delete_webhook(request: Request, webhook_id: str, zoho: Zoho) -> Response:
    zoho.delete_webhook(webhook_id)
    return ok(request, {}, message="The webhook has been deleted.")


@api.post("/settings/workflows")
async def create_workflow(request: Request, zoho: Zoho) -> Response:
    workflow = zoho.create_workflow(_object(await read_json(request)))
    return ok(request, {"workflow": workflow}, status=201, message="The workflow has been created.")


@api.get("/settings/workflows")
async def list_workflows(request: Request, zoho: Zoho) -> Response:
    return ok(request, {"workflows": zoho.list_workflows()})


@api.get("/settings/workflows/{workflow_id}")
async def get_workflow(request: Request, workflow_id: str, zoho: Zoho) -> Response:
    return ok(request, {"workflow": zoho.get_workflow(workflow_id)})


@api.delete("/settings/workflows/{workflow_id}")
async def delete_workflow(request: Request, workflow_id: str, zoho: Zoho) -> Response:
    zoho.delete_workflow(workflow_id)
    return ok(request, {}, message="The workflow has been deleted.")


@api.post("/settings/workflows/{workflow_id}/active")
async def activate_workflow(request: Request, workflow_id: str, zoho: Zoho) -> Response:
    workflow = zoho.set_workflow_active(workflow_id, True)
    return ok(request, {"workflow": workflow}, message="The workflow has been activated.")


@api.post("/settings/workflows/{workflow_id}/inactive")
async def deactivate_workflow(request: Request, workflow_id: str, zoho: Zoho) -> Response:
    workflow = zoho.set_workflow_active(workflow_id, False)
    return ok(request, {"workflow": workflow}, message="The workflow has been deactivated.")


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid_value("JSONString")
    return body


# --------------------------------------------------------------------------- control (not Zoho)

control = APIRouter(tags=["simulator control"])


def _control_error(message: str, status: int = 400) -> SimError:
    return SimError(status, {"error": "SimulatorControlError", "detail": message})


async def _control_json(request: Request) -> Any:
    try:
        return json.loads((await request.body()) or b"{}")
    except json.JSONDecodeError as exc:
        raise _control_error(f"body is not JSON: {exc}") from None


@control.get("/stats")
async def get_stats(zoho: Zoho) -> dict[str, Any]:
    return zoho.stats()


@control.post("/stats/reset")
async def reset_stats(zoho: Zoho) -> dict[str, Any]:
    zoho.reset_stats()
    return zoho.stats()


@control.get("/config")
async def get_config(zoho: Zoho) -> dict[str, Any]:
    return zoho.knobs.as_dict()


@control.put("/config")
async def put_config(request: Request, zoho: Zoho) -> dict[str, Any]:
    changes = await _control_json(request)
    if not isinstance(changes, dict):
        raise _control_error("body must be an object of knob: value")
    try:
        return zoho.update_knobs(changes)
    except ValueError as exc:
        raise _control_error(str(exc)) from None


@control.post("/expire-tokens")
async def expire_tokens(zoho: Zoho) -> dict[str, Any]:
    return {"expired": zoho.expire_tokens()}


@control.get("/items")
async def control_list_items(zoho: Zoho) -> dict[str, Any]:
    items = zoho.all_items()
    return {"count": len(items), "items": items}


@control.post("/items")
async def control_upsert_items(request: Request, zoho: Zoho) -> dict[str, Any]:
    """Body: one item, a list of items, or {"items": [...]}, in Zoho's field names."""
    body = await _control_json(request)
    payloads = body.get("items", [body]) if isinstance(body, dict) else body
    if not isinstance(payloads, list) or not all(isinstance(p, dict) for p in payloads):
        raise _control_error("body must be an item object, a list of them, or {\"items\": [...]}")
    return {"items": zoho.upsert_items(payloads)}


@control.patch("/items/{item_id}")
async def control_patch_item(request: Request, item_id: str, zoho: Zoho) -> dict[str, Any]:
    changes = await _control_json(request)
    if not isinstance(changes, dict):
        raise _control_error("body must be an object of field: value")
    return {"item": zoho.patch_item(item_id, changes)}


@control.patch("/itemgroups/{group_id}")
async def control_patch_group(request: Request, group_id: str, zoho: Zoho) -> dict[str, Any]:
    changes = await _control_json(request)
    if not isinstance(changes, dict):
        raise _control_error("body must be an object of field: value")
    return {"item_group": zoho.set_group(group_id, changes)}


@control.delete("/items/{item_id}")
async def control_delete_item(item_id: str, zoho: Zoho) -> dict[str, Any]:
    zoho.delete_item(item_id)
    return {"deleted": item_id}


@control.put("/items/{item_id}/image")
async def control_put_image(request: Request, item_id: str, zoho: Zoho) -> dict[str, Any]:
    """Raw bytes as the body, stored and served back verbatim, even empty, text or truncated ones
    (what a merchant's upload can be); the type comes from Content-Type or the bytes themselves,
    png when neither says."""
    content_type = request.headers.get("content-type", "")
    kind = next((k for k, v in IMAGE_CONTENT_TYPES.items() if v == content_type and k != "jpeg"), None)
    return {"item": zoho.set_image(item_id, await request.body(), kind)}


@control.post("/items/{item_id}/touch")
async def control_touch_item(item_id: str, zoho: Zoho) -> dict[str, Any]:
    """Bump last_modified_time and fire "edit" without changing a field."""
    return {"item": zoho.touch_item(item_id)}


@control.delete("/items/{item_id}/image")
async def control_delete_image(item_id: str, zoho: Zoho) -> dict[str, Any]:
    return {"item": zoho.set_image(item_id, None)}


@control.get("/deliveries")
async def control_deliveries(zoho: Zoho, item_id: str | None = None) -> dict[str, Any]:
    """The webhook delivery log, oldest first; `?item_id=` narrows it to one item."""
    deliveries = zoho.list_deliveries(item_id)
    return {"count": len(deliveries), "deliveries": deliveries}


@control.post("/webhooks/redeliver")
async def control_redeliver(request: Request, zoho: Zoho) -> dict[str, Any]:
    """Body {"delivery_index": n}: send logged delivery n again, byte for byte (queued, not awaited)."""
    body = await _control_json(request)
    index = body.get("delivery_index") if isinstance(body, dict) else None
    if isinstance(index, bool) or not isinstance(index, int):
        raise _control_error('body must be {"delivery_index": <int>}')
    try:
        return {"delivery": zoho.redeliver(index)}
    except LookupError as exc:
        raise _control_error(str(exc), 404) from None


@control.post("/catalogue")
async def control_catalogue(request: Request, zoho: Zoho) -> dict[str, Any]:
    """Replace the catalogue: {"count": n, "seed": s, "groups": g, "image_ratio": r}."""
    spec = await _control_json(request)
    try:
        count = zoho.generate_catalogue(int(spec.get("count", 100)), seed=int(spec.get("seed", 1)),
                                        groups=int(spec.get("groups", 0)),
                                        image_ratio=float(spec.get("image_ratio", 0.0)))
    except (TypeError, ValueError, AttributeError) as exc:
        raise _control_error(f"bad catalogue spec: {exc}") from None
    return {"count": count}


@control.post("/reset")
async def control_reset(zoho: Zoho) -> dict[str, Any]:
    zoho.reset()
    return {"reset": True, "items": len(zoho.items)}


# --------------------------------------------------------------------------- calls in flight


class InFlight:
    """ASGI middleware counting /inventory/v1 calls from arrival until their response is sent,
    refusing one over the `concurrency_limit` knob with code 1070 before anything else runs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        zoho: ZohoState = scope["app"].state.zoho
        refusal = zoho.enter_call()
        if refusal is not None:
            await error_response(refusal)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            zoho.leave_call()


# --------------------------------------------------------------------------- factory


def create_app(state: ZohoState | None = None) -> FastAPI:
    """The simulator app; `state` defaults to an empty catalogue with the demo credentials."""
    app = FastAPI(title="Zoho Inventory simulator", version="1")
    app.state.zoho = state if state is not None else ZohoState()
    app.add_exception_handler(SimError, _on_sim_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.include_router(accounts)
    app.include_router(api, prefix=API_PREFIX)
    app.include_router(control, prefix=CONTROL_PREFIX)
    app.add_middleware(InFlight)
    return app
