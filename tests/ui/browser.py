"""Helpers of the browser suites: Debian's chromium driven by Playwright (the `page` fixture is
in tests/ui/conftest.py), signing in, screenshots (.run/screenshots/, or docs/ for the README
with SKUBRIDGE_DOCS_SCREENSHOTS=1), and the status page's parts.

Playwright's own browser downloads are not used (scripts/bootstrap.sh installs `chromium` with
apt): `executable_path` points at it, with the flags it needs to run headless as root offline."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.async_api import Page, expect

from tests.helpers import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# Each run's screenshots are test artifacts under .run/screenshots/ (kept out of git); the
# README's pictures in docs/ are refreshed with SKUBRIDGE_DOCS_SCREENSHOTS=1 make test.
DOCS = ROOT / "docs" if os.environ.get("SKUBRIDGE_DOCS_SCREENSHOTS") == "1" else ROOT / ".run" / "screenshots"


async def shot(page: Page, name: str) -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(Path(DOCS) / name), full_page=True)


async def sign_in(page: Page, *, screenshot: bool = False) -> None:
    await page.goto("/ui/connections/00000000-0000-0000-0000-000000000000")
    await expect(page).to_have_url(re.compile(r"/ui/login$"))  # signed out: sent to sign in
    await page.get_by_label("API token").fill("test-token")
    if screenshot:
        await shot(page, "console-login.png")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("heading", name="Connections")).to_be_visible()


def counter(page: Page, label: str):
    return page.get_by_label(label, exact=True)


async def open_status(page: Page, connection_id: str) -> None:
    await page.get_by_role("link", name="Test store").click()
    await expect(page).to_have_url(re.compile(f"/ui/connections/{connection_id}$"))
    await page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads


async def still_same_document(page: Page) -> bool:
    return bool(await page.evaluate("window.__sameDocument === true"))
