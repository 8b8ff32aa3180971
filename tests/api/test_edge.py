"""The API's edge: the bearer token is checked before a body is read, and no body larger than
API_MAX_BODY_BYTES is read, whether its length is declared or it streams in chunks."""

from __future__ import annotations

import uuid

import httpx
import pytest

from app.main import create_app
from tests.helpers import connection_body

CAP = 4096
MB = 1024 * 1024


@pytest.fixture
async def capped(ctx, settings):
    """The API with a 4 KiB body cap, and a client that sends no token unless told to."""
    app = create_app(settings.model_copy(update={"api_max_body_bytes": CAP}), ctx=ctx)
    app.state.ctx = ctx
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client


def bearer(token: str = "test-token") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Chunks:
    """A body of `count` chunks that remembers how many were taken from it."""

    def __init__(self, count: int, size: int) -> None:
        self.count, self.size, self.sent = count, size, 0

    async def __aiter__(self):
        for _ in range(self.count):
            self.sent += 1
            yield b"x" * self.size


async def test_no_token_is_401_before_the_body_is_parsed(capped):
    for headers in ({}, bearer("wrong"), {"Authorization": "Basic dGVzdC10b2tlbg=="}):
        response = await capped.post("/api/v1/connections", content=b'{"name": ', headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"] == "Unauthorized"
    assert (await capped.post("/api/v1/connections", content=b"{")).json()["detail"] == (
        "send the API token as 'Authorization: Bearer <API_TOKEN>'")
    assert (await capped.post("/api/v1/connections", content=b"{", headers=bearer("wrong"))).json()["detail"] == (
        "the API token is not valid")
    # Larger than the cap and without a token: still a 401, the body never looked at.
    body = Chunks(100, 1024)
    assert (await capped.post("/api/v1/connections", content=body)).status_code == 401
    assert body.sent <= 1
    # Even a path that does not exist under /api/v1 says nothing without the token.
    assert (await capped.get("/api/v1/no-such-thing")).status_code == 401


async def test_declared_length_over_the_cap_is_413(capped):
    response = await capped.post("/api/v1/connections", content=b"x" * (CAP + 1),
                                 headers=bearer() | {"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"error": "PayloadTooLarge", "detail": f"the body is larger than {CAP} bytes"}


async def test_chunked_body_over_the_cap_is_413_without_reading_the_rest(capped):
    body = Chunks(1000, 1024)  # 1 MB in 1 KiB chunks, no Content-Length
    response = await capped.post("/api/v1/connections", content=body,
                                 headers=bearer() | {"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json() == {"error": "PayloadTooLarge", "detail": f"the body is larger than {CAP} bytes"}
    assert body.sent <= CAP // 1024 + 1  # the app stopped reading at the cap


async def test_bodies_within_the_cap_work_and_public_routes_need_no_token(capped):
    created = await capped.post("/api/v1/connections", json=connection_body("http://zoho.test", "https://shop.test"),
                                headers=bearer())
    assert created.status_code == 201, created.text
    assert len(created.request.content) < CAP
    malformed = await capped.post("/api/v1/connections", content=b'{"name": ', headers=bearer())
    assert malformed.status_code == 422  # with the token, a bad body is the body's fault
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
        assert (await capped.get(path)).status_code == 200, path
    # The cap applies to public routes too.
    assert (await capped.post("/healthz", content=b"x" * (CAP + 1))).status_code == 413


async def test_zoho_intake_keeps_its_own_limit(capped, settings):
    assert settings.webhook_max_body_bytes > 3 * CAP
    response = await capped.post(f"/webhooks/zoho/{uuid.uuid4()}", content=b"x" * (3 * CAP))
    assert response.status_code == 404  # the intake's own answer: the API's cap did not apply
    assert response.json()["error"] == "NotFound"


async def test_a_large_streamed_body_does_not_grow_the_api_process(api_server):
    """50 MB sent three ways (no token; a token but no length; a declared length) to a real
    uvicorn process: each is refused and the server's memory barely moves."""
    server = api_server()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        for _ in range(3):  # warm up: imports, pools and buffers a first request allocates
            await client.post("/api/v1/connections", content=b"{}", headers=bearer())
            await client.post("/api/v1/connections", content=Chunks(8, 1024))
        before = server.rss_bytes()
        anonymous = await client.post("/api/v1/connections", content=Chunks(50, MB),
                                      headers={"Content-Type": "application/json"})
        chunked = await client.post("/api/v1/connections", content=Chunks(50, MB),
                                    headers=bearer() | {"Content-Type": "application/json"})
        declared = await client.post("/api/v1/connections", content=Chunks(50, MB),
                                     headers=bearer() | {"Content-Length": str(50 * MB)})
        after = server.rss_bytes()
    assert anonymous.status_code == 401, anonymous.text
    assert chunked.status_code == 413 and declared.status_code == 413
    assert chunked.json()["error"] == declared.json()["error"] == "PayloadTooLarge"
    assert after - before < 30 * MB, f"the API grew by {(after - before) / MB:.1f} MB"
