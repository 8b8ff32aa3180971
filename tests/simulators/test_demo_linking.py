"""`make demo` links its connection through the connect flows (simulators/demo.py
`link_by_signing_in`): the console's Link by signing in, Connect Zoho, Connect store and Connect
media uploads, against the simulators and the service on a real port, as the demo drives them."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from app.connections.service import credentials_of
from app.main import create_app
from app.models import Connection
from simulators.demo import DEMO_CLIENT, link_by_signing_in
from simulators.server import ServerThread, free_port
from tests.helpers import sim


@pytest.fixture(scope="module")
def service(settings, database, zoho_server):
    """The service on a port of its own, as the demo configures it: PUBLIC_BASE_URL is its own
    address, the deployment's OAuth client is the simulator's demo client, consent starts there."""
    port = free_port()
    own = settings.model_copy(update={
        "public_base_url": f"http://127.0.0.1:{port}", "zoho_accounts_url": zoho_server.base_url,
        "zoho_client_id": DEMO_CLIENT[0], "zoho_client_secret": SecretStr(DEMO_CLIENT[1]),
        "zoho_trusted_origins": ""})
    server = ServerThread(create_app(own), port=port).start()
    yield server
    server.stop()


@pytest.fixture
async def fresh_console(ctx):
    async for key in ctx.redis.scan_iter("skubridge:console:*"):  # the sign-in throttle
        await ctx.redis.delete(key)


async def link(service, woo_server) -> str:
    return await asyncio.to_thread(link_by_signing_in, service.base_url, "test-token", name="Demo store",
                                   store_url=woo_server.base_url)


async def test_the_demo_links_zoho_the_store_and_media_by_signing_in(api, ctx, zoho, store, service, woo_server,
                                                                     fresh_console):
    sim(woo_server.base_url, "PUT", "/config", json={"connect_http_callbacks": True})  # the demo's --connect-http-callbacks
    before = {k["key_id"] for k in sim(woo_server.base_url, "GET", "/keys")}

    connection_id = await link(service, woo_server)

    read = (await api.get(f"/api/v1/connections/{connection_id}")).json()
    assert read["linked"] is True and read["needs_reconnect"] is False
    assert read["zoho"]["linked"] is True and read["woocommerce"]["linked"] is True
    assert read["woocommerce"]["wp_username"] == "admin"
    granted = [k for k in sim(woo_server.base_url, "GET", "/keys") if k["key_id"] not in before]
    assert [k["permissions"] for k in granted] == ["read_write"]
    async with ctx.sessionmaker() as db:
        stored = credentials_of(await db.get(Connection, connection_id), keyring=ctx.keyring)
    # The key the store granted and posted, not the simulator's preset ck_demo.
    assert stored["consumer_key"] == granted[0]["consumer_key"] != "ck_demo"
    assert stored["wp_application_password"] not in ("", "demo demo demo demo demo demo")
    assert sim(woo_server.base_url, "GET", "/app-passwords")[-1]["name"] == "skubridge"


async def test_without_the_http_callback_knob_the_demo_stops_at_the_store(api, zoho, store, service, woo_server,
                                                                           fresh_console):
    with pytest.raises(RuntimeError, match="no grant page"):  # real WooCommerce: callback_url over SSL only
        await link(service, woo_server)
