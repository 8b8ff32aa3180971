"""The console suites' fixtures: an in-process browser-like client (`console`), the service on a
real port (`service`) and a Playwright page in Debian's chromium (`page`)."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import async_playwright

from app.main import create_app
from simulators.server import ServerThread
from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
async def console(ctx, settings):
    """A browser-like client: no bearer token, cookies kept."""
    app = create_app(settings, ctx=ctx)
    app.state.ctx = ctx
    async for key in ctx.redis.scan_iter("skubridge:console:*"):
        await ctx.redis.delete(key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client


@pytest.fixture(scope="module")
def service(settings, database):
    """The service itself on a port, owning its own pools (its lifespan runs)."""
    server = ServerThread(create_app(settings)).start()
    yield server
    server.stop()


@pytest.fixture
async def page(service, ctx):
    async for key in ctx.redis.scan_iter("skubridge:console:*"):
        await ctx.redis.delete(key)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(base_url=service.base_url, viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        yield page
        await browser.close()
