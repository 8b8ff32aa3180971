"""Helpers of the in-process console tests (the `console` client fixture is in
tests/ui/conftest.py)."""

from __future__ import annotations

import re

import httpx


async def sign_in(console: httpx.AsyncClient) -> str:
    """Sign in; the CSRF token of the new session, read from the connections page."""
    response = await console.post("/ui/login", data={"token": "test-token"})
    assert response.status_code == 303 and response.headers["location"] == "/ui/"
    page = await console.get("/ui/")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
