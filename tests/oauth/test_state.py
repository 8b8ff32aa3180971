"""The connect flows' state: signed, bound to the browser that began it, single use, 10 minutes."""

from __future__ import annotations

import time
import uuid

import pytest
from itsdangerous import TimestampSigner
from starlette.requests import Request
from starlette.responses import Response

from app.oauth import state as flows

CONNECTION = uuid.UUID("11111111-2222-3333-4444-555555555555")


def request_with(cookies: dict[str, str] | None = None, scheme: str = "http") -> Request:
    header = "; ".join(f"{k}={v}" for k, v in (cookies or {}).items())
    return Request({"type": "http", "method": "GET", "path": "/", "scheme": scheme, "query_string": b"",
                    "headers": [(b"cookie", header.encode())] if header else [], "server": ("sb", 80)})


def begun(settings, purpose: str = "zoho", cookies: dict[str, str] | None = None) -> tuple[str, str]:
    response = Response()
    value = flows.begin(response, request_with(cookies), settings, purpose=purpose, connection_id=CONNECTION,
                        extra={"dc": "eu"})
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/oauth" in cookie and "Max-Age=600" in cookie
    binding = cookie.split(";")[0].split("=", 1)[1]
    return value, binding


async def test_a_state_is_redeemed_once_from_the_browser_that_began_it(settings, ctx):
    value, binding = begun(settings)
    flow = await flows.redeem(request_with({flows.FLOW_COOKIE: binding}), settings, ctx.redis, value, purpose="zoho")
    assert flow.connection_id == CONNECTION and flow.extra == {"dc": "eu"}
    with pytest.raises(flows.FlowRefused) as replay:
        await flows.redeem(request_with({flows.FLOW_COOKIE: binding}), settings, ctx.redis, value, purpose="zoho")
    assert replay.value.reason == "replayed"


async def test_states_from_elsewhere_are_refused_and_not_used_up(settings, ctx):
    value, binding = begun(settings)
    cases = {"other_browser": (value, {flows.FLOW_COOKIE: "someone-else"}, "zoho"),
             "wrong_flow": (value, {flows.FLOW_COOKIE: binding}, "woocommerce"),
             "invalid": (value[:-3] + "abc", {flows.FLOW_COOKIE: binding}, "zoho")}
    for reason, (offered, cookies, purpose) in cases.items():
        with pytest.raises(flows.FlowRefused) as refused:
            await flows.redeem(request_with(cookies), settings, ctx.redis, offered, purpose=purpose)
        assert refused.value.reason == reason, reason
    with pytest.raises(flows.FlowRefused) as missing:
        await flows.redeem(request_with({flows.FLOW_COOKIE: binding}), settings, ctx.redis, None, purpose="zoho")
    assert missing.value.reason == "invalid"
    # None of those refusals used the state up.
    await flows.redeem(request_with({flows.FLOW_COOKIE: binding}), settings, ctx.redis, value, purpose="zoho")


async def test_a_state_expires_after_ten_minutes(settings, ctx, monkeypatch):
    value, binding = begun(settings)
    later = time.time() + flows.STATE_MAX_AGE_S + 5
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(later))
    with pytest.raises(flows.FlowRefused) as refused:
        await flows.redeem(request_with({flows.FLOW_COOKIE: binding}), settings, ctx.redis, value, purpose="zoho")
    assert refused.value.reason == "expired"


async def test_a_server_callback_redeems_without_the_browser_cookie(settings, ctx):
    value, _ = begun(settings, purpose="woocommerce")
    flow = await flows.redeem(request_with(), settings, ctx.redis, value, purpose="woocommerce", bound=False)
    assert flow.purpose == "woocommerce"


def test_one_browser_keeps_its_binding_across_flows(settings):
    _, first = begun(settings)
    _, second = begun(settings, purpose="woocommerce", cookies={flows.FLOW_COOKIE: first})
    assert first == second


def test_the_continue_page_only_goes_to_paths_of_this_service():
    page = flows.continue_page("/ui/connections/x?notice=a&b", "Zoho is linked.")
    assert b'http-equiv="refresh" content="0;url=/ui/connections/x?notice=a&amp;b"' in page.body
    assert page.headers["cache-control"] == "no-store"
    for target in ("https://evil.example/", "//evil.example/"):
        with pytest.raises(ValueError):
            flows.continue_page(target, "x")
