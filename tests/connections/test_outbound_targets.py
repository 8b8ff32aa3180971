"""Outbound targets in production: store and Zoho URLs on loopback, private, link-local and other
non-public addresses are refused when saved, and again by every client when it connects (the
address it would connect to, so a DNS answer that changes in between gets nowhere).

Nothing here sends a packet off this machine: public addresses appear only as URLs that are
validated, never called.
"""

from __future__ import annotations

import dataclasses
import secrets
import ssl
import uuid

import httpx
import pytest

from app.config import Settings
from app.connections.adapters import shared_budget
from app.integrations.targets import OPEN, TargetPolicy, TargetRefused, forbidden_kind
from app.integrations.woocommerce.client import WooClient
from app.integrations.woocommerce.errors import WooTargetRefused
from app.integrations.woocommerce.media import WordPressMedia
from app.integrations.zoho.client import ZohoClient
from app.integrations.zoho.errors import ZohoTargetRefused
from app.main import create_app
from app.syncs.runner import judge
from simulators.server import ServerThread
from simulators.woocommerce.app import create_app as create_woo_app
from simulators.woocommerce.tls import make_self_signed_cert
from tests.helpers import connection_body

PUBLIC = "https://93.184.215.14"  # validated only; never connected to
FORBIDDEN = ["http://169.254.169.254", "http://127.0.0.1:8080", "http://10.0.0.5", "http://[::1]",
             "http://localhost:8080", "http://[::ffff:127.0.0.1]", "http://100.64.0.1", "http://0.0.0.0"]
ENFORCED = TargetPolicy(enforce=True)


def production_settings(**overrides) -> Settings:
    return Settings(environment="production", api_token=secrets.token_urlsafe(48),
                    secret_key=secrets.token_urlsafe(48), **overrides)


@pytest.fixture
async def production_api(ctx):
    """The API in-process with ENVIRONMENT=production (and its own random secrets), on the test
    database and Redis."""
    clients: list[httpx.AsyncClient] = []

    def build(**overrides) -> httpx.AsyncClient:
        settings = production_settings(**overrides)
        app = create_app(settings, ctx=dataclasses.replace(ctx, settings=settings, owns_redis=False))
        app.state.ctx = dataclasses.replace(ctx, settings=settings, owns_redis=False)  # no lifespan here
        token = settings.api_token.get_secret_value()
        clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                         headers={"Authorization": f"Bearer {token}"}))
        return clients[-1]

    yield build
    for client in clients:
        await client.aclose()


def body_with(woo: str = PUBLIC, zoho: str = PUBLIC, accounts: str = PUBLIC) -> dict:
    body = connection_body(zoho, woo)
    body["zoho"]["accounts_base_url"] = accounts
    return body


def assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationError"
    assert response.json()["fields"] == [field], response.json()
    assert "ALLOW_PRIVATE_TARGETS" in response.json()["detail"]


# --- when saved ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", FORBIDDEN)
async def test_production_refuses_forbidden_store_and_zoho_urls_on_create(production_api, url):
    api = production_api()
    for body, field in [(body_with(woo=url), "woocommerce.base_url"), (body_with(zoho=url), "zoho.api_base_url"),
                        (body_with(accounts=url), "zoho.accounts_base_url")]:
        assert_refused(await api.post("/api/v1/connections", json=body), field)
    assert (await api.get("/api/v1/connections")).json() == []


async def test_production_accepts_a_public_address(production_api):
    api = production_api()
    created = await api.post("/api/v1/connections", json=body_with())
    assert created.status_code == 201, created.text
    assert created.json()["woocommerce"]["base_url"] == PUBLIC


@pytest.mark.parametrize("url", FORBIDDEN)
async def test_production_refuses_forbidden_urls_on_patch(production_api, url):
    api = production_api()
    connection = (await api.post("/api/v1/connections", json=body_with())).json()
    secrets_again = {"consumer_key": "ck", "consumer_secret": "cs", "wp_application_password": "pw"}
    changes = [({"woocommerce": {"base_url": url, **secrets_again}}, "woocommerce.base_url"),
               ({"zoho": {"api_base_url": url, "client_secret": "s", "refresh_token": "r"}}, "zoho.api_base_url"),
               ({"zoho": {"accounts_base_url": url, "client_secret": "s", "refresh_token": "r"}},
                "zoho.accounts_base_url")]
    for change, field in changes:
        assert_refused(await api.patch(f"/api/v1/connections/{connection['id']}", json=change), field)
    assert (await api.get(f"/api/v1/connections/{connection['id']}")).json() == connection


async def test_allow_private_targets_accepts_loopback_in_production(production_api):
    api = production_api(allow_private_targets=True)
    created = await api.post("/api/v1/connections", json=body_with(woo="http://127.0.0.1:8080",
                                                                   zoho="http://localhost:8081"))
    assert created.status_code == 201, created.text


async def test_development_and_test_allow_loopback(api):
    created = await api.post("/api/v1/connections", json=body_with(woo="http://127.0.0.1:8080"))
    assert created.status_code == 201, created.text


def test_the_policy_is_on_in_production_only():
    on = [(env, allow) for env in ("development", "test", "production") for allow in (False, True)
          if TargetPolicy.for_deployment(environment=env, allow_private_targets=allow).enforce]
    assert on == [("production", False)]


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.0.0.5", "private"), ("192.168.1.1", "private"),
    ("172.16.0.1", "private"), ("fc00::1", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("::ffff:169.254.169.254", "link-local"), ("100.64.0.1", "shared (carrier-grade NAT)"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "reserved"), ("93.184.215.14", None), ("2606:2800:220:1::1", None),
])
def test_forbidden_kinds(address, kind):
    assert forbidden_kind(address) == kind


def stub_dns(table: dict[str, list[str]]):
    async def resolver(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]
    return resolver


async def test_names_are_checked_by_every_address_they_resolve_to():
    policy = TargetPolicy(enforce=True, resolver=stub_dns({
        "shop.example": ["93.184.215.14"], "split.example": ["93.184.215.14", "10.0.0.5"]}))
    await policy.check_url("https://shop.example/wp")
    with pytest.raises(TargetRefused, match=r"split.example resolves to 10.0.0.5, a private address"):
        await policy.check_url("https://split.example")
    with pytest.raises(TargetRefused, match="cannot be resolved"):
        await policy.check_url("https://nowhere.example")
    await OPEN.check_url("http://127.0.0.1")  # not enforced: nothing is checked


# --- when connecting ----------------------------------------------------------------------


def woo_client(url: str, policy: TargetPolicy) -> WooClient:
    return WooClient(base_url=url, consumer_key="ck_demo", consumer_secret="cs_demo", max_attempts=1, targets=policy)


LOOPBACK_DNS = TargetPolicy(enforce=True, resolver=stub_dns({"shop.example": ["127.0.0.1"]}))


@pytest.mark.parametrize("policy", [ENFORCED, LOOPBACK_DNS])
async def test_woo_client_refuses_to_connect_to_the_simulator_on_loopback(store, woo_server, policy):
    """By its address, and by a name that resolves to loopback."""
    url = woo_server.base_url if policy is ENFORCED else f"http://shop.example:{woo_server.port}"
    async with woo_client(url, policy) as client:
        with pytest.raises(WooTargetRefused, match="forbidden address: .*127.0.0.1.* loopback") as refused:
            await client.get_store_settings()
    assert refused.value.code == "forbidden_target"
    assert store.stats()["requests"] == {}


async def test_a_name_that_rebinds_after_validation_is_refused_at_connect_time(store, woo_server):
    answers = {"shop.example": ["93.184.215.14"]}
    policy = TargetPolicy(enforce=True, resolver=stub_dns(answers))
    await policy.check_url(f"http://shop.example:{woo_server.port}")  # what the API saw when it was saved
    answers["shop.example"] = ["127.0.0.1"]  # the attacker's DNS changes its answer
    async with woo_client(f"http://shop.example:{woo_server.port}", policy) as client:
        with pytest.raises(WooTargetRefused):
            await client.get_store_settings()
    assert store.stats()["requests"] == {}


async def test_the_pinned_connection_reaches_an_allowed_address_by_name(store, woo_server):
    """The control: with loopback allowed, the same guarded client gets its answer, connecting
    to the checked address while the request still names the host."""
    policy = TargetPolicy(enforce=True, resolver=stub_dns({"shop.example": ["127.0.0.1"]}),
                          forbidden=lambda address: None)
    async with woo_client(f"http://shop.example:{woo_server.port}", policy) as client:
        settings = await client.get_store_settings()
    assert settings.weight_unit
    assert store.stats()["requests"] == {"GET /settings/products": 1}


async def test_tls_is_checked_against_the_host_name_not_the_pinned_address(tmp_path):
    certfile, keyfile = make_self_signed_cert(tmp_path)  # valid for "localhost" only
    server = ServerThread(create_woo_app(), ssl_certfile=certfile, ssl_keyfile=keyfile).start()
    try:
        trust = ssl.create_default_context(cafile=certfile)
        policy = TargetPolicy(enforce=True, resolver=stub_dns({"localhost": ["127.0.0.1"],
                                                               "shop.example": ["127.0.0.1"]}),
                              forbidden=lambda address: None)
        transport = policy.transport(verify=trust, refuse=WooTargetRefused)
        async with httpx.AsyncClient(transport=transport) as http:
            answer = await http.get(f"https://localhost:{server.port}/wp-json/")
            assert answer.status_code < 500
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED|match"):
                await http.get(f"https://shop.example:{server.port}/wp-json/")
    finally:
        server.stop()


async def test_wordpress_media_refuses_to_upload_to_loopback(store, woo_server):
    media = WordPressMedia(base_url=woo_server.base_url, username="admin",
                           application_password="demo demo demo demo demo demo", targets=ENFORCED)
    async with media:
        with pytest.raises(WooTargetRefused):
            await media.upload(b"\x89PNG", filename="a.png", content_type="image/png")
    assert store.stats()["requests"] == {} and store.stats()["media_created"] == 0


def zoho_client(ctx, zoho_server, policy: TargetPolicy) -> ZohoClient:
    return ZohoClient(organization_id="10234695", client_id="1000.DEMOCLIENT", client_secret="demo-secret",
                      refresh_token="1000.demo-refresh", data_center="com", api_base_url=zoho_server.base_url,
                      accounts_base_url=zoho_server.base_url, budget=shared_budget(ctx), redis=ctx.redis, targets=policy)


async def test_zoho_client_refuses_the_token_call_to_loopback(ctx, zoho, zoho_server):
    async with zoho_client(ctx, zoho_server, ENFORCED) as client:
        with pytest.raises(ZohoTargetRefused, match="forbidden address"):
            await client.check_access()
    assert zoho.stats()["requests"] == {} and zoho.stats()["tokens_issued"] == 0


async def test_zoho_client_refuses_api_calls_and_image_downloads_to_loopback(ctx, zoho, zoho_server):
    zoho.generate_catalogue(1)
    async with zoho_client(ctx, zoho_server, OPEN) as client:
        await client.check_access()  # the token is now cached: only the API calls remain to guard
    before = zoho.stats()["requests"]
    async with zoho_client(ctx, zoho_server, ENFORCED) as client:
        with pytest.raises(ZohoTargetRefused):
            await client.check_access()
        with pytest.raises(ZohoTargetRefused):
            await client.download_item_image("1")
    assert zoho.stats()["requests"] == before


def test_a_refused_target_fails_a_run_rather_than_pausing_it():
    for error in (WooTargetRefused("the connection points at a forbidden address: x"),
                  ZohoTargetRefused("the connection points at a forbidden address: y")):
        verdict = judge(error)
        assert verdict.fault is False
        assert "forbidden address" in verdict.reason


async def test_a_run_in_production_pointed_at_loopback_fails_with_the_reason(api, ctx, zoho, zoho_server, woo_server,
                                                                          store):
    """A connection saved while private targets were allowed, then driven by a worker that
    enforces the policy: the run fails at once with the reason, and neither vendor hears a thing."""
    from app.syncs.runner import plan_run

    body = connection_body(zoho_server.base_url, woo_server.base_url)
    connection = (await api.post("/api/v1/connections", json=body)).json()
    run = (await api.post(f"/api/v1/connections/{connection['id']}/syncs")).json()
    production = dataclasses.replace(ctx, settings=ctx.settings.model_copy(update={"environment": "production"}))
    await plan_run(production, uuid.UUID(run["id"]))
    run = (await api.get(f"/api/v1/syncs/{run['id']}")).json()
    assert run["status"] == "failed", run
    assert "forbidden address" in run["reason"] and run["retry_at"] is None
    assert zoho.stats()["requests"] == {} and store.stats()["requests"] == {}
