"""Key rotation and bound blobs, end to end: the API reading with SECRET_KEY and SECRET_KEYS,
`skubridge rotate-keys` re-sealing every encrypted column, blobs from before binding, and a
blob copied to another connection."""

import asyncio
import dataclasses
import os
import subprocess
import sys
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from app.connections.rotation import rotate_keys
from app.connections.service import credentials_of, get_connection
from app.core.crypto import BOUND_PREFIX, CredentialsUnreadable, Keyring
from app.main import create_app
from tests.helpers import connection_body, legacy_blob

KEY_A = "key-a-" + "a" * 40
KEY_B = "key-b-" + "b" * 40
SKUBRIDGE = str(Path(sys.executable).parent / "skubridge")


def keyed(ctx, secret_key: str, secret_keys: str = ""):
    """The test context with other keys (and so its own keyring); same database and Redis."""
    settings = ctx.settings.model_copy(update={"secret_key": SecretStr(secret_key),
                                               "secret_keys": SecretStr(secret_keys)})
    return dataclasses.replace(ctx, settings=settings)


@asynccontextmanager
async def api_for(ctx):
    app = create_app(ctx.settings, ctx=ctx)
    app.state.ctx = ctx
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                 headers={"Authorization": "Bearer test-token"}) as client:
        yield client


async def create(api) -> str:
    response = await api.post("/api/v1/connections", json=connection_body("http://zoho.test", "https://shop.test"))
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def set_column(ctx, connection_id: str, column: str, blob: str) -> None:
    async with ctx.engine.begin() as conn:
        await conn.execute(text(f"UPDATE connections SET {column} = :blob WHERE id = :id"),
                           {"blob": blob, "id": connection_id})


async def column(ctx, connection_id: str, name: str) -> str:
    async with ctx.engine.connect() as conn:
        return await conn.scalar(text(f"SELECT {name} FROM connections WHERE id = :id"), {"id": connection_id})


def rotate_keys_command(*, secret_key: str, secret_keys: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, SECRET_KEY=secret_key, SECRET_KEYS=secret_keys)
    return subprocess.run([SKUBRIDGE, "rotate-keys", "--batch-size", "1"], env=env, capture_output=True, text=True,
                          timeout=60)


async def test_rotation_from_one_key_to_another(ctx):
    with_a = keyed(ctx, KEY_A)
    async with api_for(with_a) as api:
        ids = [await create(api), await create(api)]
    await set_column(ctx, ids[0], "webhook_secret",
                     with_a.keyring.seal({"secret": "hook"}, connection_id=uuid.UUID(ids[0]), purpose="webhook_secret"))

    async with api_for(keyed(ctx, KEY_B)) as api:  # the old key forgotten: unreadable, 409
        refused = await api.get(f"/api/v1/connections/{ids[0]}")
    assert refused.status_code == 409 and refused.json()["error"] == "CredentialsUnreadable"
    async with api_for(keyed(ctx, KEY_B, KEY_A)) as api:
        before = [(await api.get(f"/api/v1/connections/{i}")) for i in ids]
    assert [r.status_code for r in before] == [200, 200]

    first = await asyncio.to_thread(rotate_keys_command, secret_key=KEY_B, secret_keys=KEY_A)
    assert first.returncode == 0, first.stderr
    assert "rewrote 2 of 2 connections" in first.stdout
    again = await asyncio.to_thread(rotate_keys_command, secret_key=KEY_B, secret_keys=KEY_A)
    assert "rewrote 0 of 2 connections" in again.stdout

    with_b = keyed(ctx, KEY_B)
    async with api_for(with_b) as api:
        after = [(await api.get(f"/api/v1/connections/{i}")) for i in ids]
    assert [r.json() for r in after] == [r.json() for r in before]  # updated_at included: re-sealing is no edit
    async with ctx.sessionmaker() as session:
        stored = await get_connection(session, uuid.UUID(ids[1]))
    assert credentials_of(stored, keyring=with_b.keyring)["consumer_secret"] == "cs_demo"
    hook = await column(ctx, ids[0], "webhook_secret")
    assert with_b.keyring.open(hook, connection_id=uuid.UUID(ids[0]), purpose="webhook_secret") == {"secret": "hook"}


async def test_a_legacy_blob_is_read_and_rotation_binds_it(api, ctx):
    connection_id, other_id = await create(api), await create(api)
    key = ctx.settings.secret_key.get_secret_value()
    credentials = {"client_id": "1000.LEGACY", "client_secret": "s", "refresh_token": "r", "consumer_key": "ck_old",
                   "consumer_secret": "cs_old", "wp_username": "legacy-admin", "wp_application_password": None}
    await set_column(ctx, connection_id, "credentials", legacy_blob(key, credentials))
    await set_column(ctx, connection_id, "webhook_secret", legacy_blob(key, {"secret": "old-hook"}))

    read = await api.get(f"/api/v1/connections/{connection_id}")
    assert read.status_code == 200 and read.json()["woocommerce"]["wp_username"] == "legacy-admin"

    report = await rotate_keys(ctx.sessionmaker, ctx.keyring)
    assert (report.examined, report.rewritten) == (2, 1)  # the other connection is already bound
    bound = await column(ctx, connection_id, "credentials")
    assert bound.startswith(BOUND_PREFIX)
    assert (await column(ctx, connection_id, "webhook_secret")).startswith(BOUND_PREFIX)
    assert (await api.get(f"/api/v1/connections/{connection_id}")).json()["woocommerce"]["wp_username"] == "legacy-admin"

    await set_column(ctx, other_id, "credentials", bound)
    copied = await api.get(f"/api/v1/connections/{other_id}")
    assert copied.status_code == 409 and copied.json()["error"] == "CredentialsUnreadable"


async def test_a_blob_copied_to_another_connection_does_not_open(api, ctx):
    source, target = await create(api), await create(api)
    async with ctx.engine.begin() as conn:
        await conn.execute(text("UPDATE connections SET credentials = (SELECT credentials FROM connections WHERE id = :a)"
                                " WHERE id = :b"), {"a": source, "b": target})
    assert (await api.get(f"/api/v1/connections/{source}")).status_code == 200
    copied = await api.get(f"/api/v1/connections/{target}")
    assert copied.status_code == 409
    assert copied.json() == {"error": "CredentialsUnreadable", "detail": copied.json()["detail"]}
    assert target in copied.json()["detail"]
    # nor in the other column of its own row
    hook = ctx.keyring.seal({"secret": "x"}, connection_id=uuid.UUID(source), purpose="webhook_secret")
    with pytest.raises(CredentialsUnreadable):
        ctx.keyring.open(hook, connection_id=uuid.UUID(source), purpose="credentials")


async def test_rotation_refuses_an_unreadable_row_and_names_it(ctx):
    with_a = keyed(ctx, KEY_A)
    async with api_for(with_a) as api:
        ids = sorted([await create(api) for _ in range(3)], key=uuid.UUID)
    bad = ids[1]
    unknown = Keyring("a-key-nobody-kept-" + "x" * 20).seal({"secret": "?"}, connection_id=uuid.UUID(bad),
                                                            purpose="credentials")
    await set_column(ctx, bad, "credentials", unknown)

    with pytest.raises(CredentialsUnreadable, match=f"{bad}.*1 connection\\(s\\) of earlier batches"):
        await rotate_keys(ctx.sessionmaker, keyed(ctx, KEY_B, KEY_A).keyring, batch_size=1)
    assert await column(ctx, bad, "credentials") == unknown
    only_b = keyed(ctx, KEY_B).keyring
    assert only_b.open(await column(ctx, ids[0], "credentials"), connection_id=uuid.UUID(ids[0]),
                       purpose="credentials")["consumer_key"] == "ck_demo"  # its batch was committed
    with pytest.raises(CredentialsUnreadable):  # never reached
        only_b.open(await column(ctx, ids[2], "credentials"), connection_id=uuid.UUID(ids[2]), purpose="credentials")

    refused = await asyncio.to_thread(rotate_keys_command, secret_key=KEY_B, secret_keys=KEY_A)
    assert refused.returncode == 1
    assert f"rotate-keys refused: the stored credentials of connection {bad}" in refused.stderr
    assert "Traceback" not in refused.stderr
