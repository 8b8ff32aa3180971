"""Test connection: six checks, each with its own verdict and a hint, through the adapters'
access checks (app/ports/checks.py; app/connections/adapters.py builds them).

    zoho.token         the refresh token gives an access token
    zoho.organization  the organization is readable                    (needs zoho.token)
    zoho.scopes        the calls a sync makes answer                   (needs zoho.organization)
    store.read         the store's settings can be read with the key
    store.write        the key may write, proved without writing       (needs store.read)
    store.media        the application password may upload, without uploading

A check whose prerequisite failed, or whose credentials the connection does not hold yet, is
`skipped` with the reason. Every call is read-only or changes nothing; a test costs at most
five Zoho calls (one of them the token endpoint, none when a token is cached) and three store
calls. Zoho's and the store's checks run side by side (they share nothing). Nothing is written
to the database: the verdicts are the answer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from app.connections.adapters import AccessChecks, access_checks_for
from app.connections.links import mark_needs_reconnect
from app.connections.service import get_connection
from app.core.context import AppContext
from app.ports.checks import Finding


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class CheckRead(BaseModel):
    name: str = Field(description="zoho.token, zoho.organization, zoho.scopes, store.read, store.write or store.media")
    verdict: Verdict
    detail: str = Field(description="What the check saw, in words")
    hint: str = Field(description="What to do about a failed or skipped check; empty when it passed")


class ConnectionTestRead(BaseModel):
    connection_id: uuid.UUID
    ok: bool = Field(description="Every check passed")
    tested_at: datetime
    checks: list[CheckRead]


Probe = Callable[[], Awaitable[Finding]]


async def run_checks(ctx: AppContext, connection_id: uuid.UUID) -> ConnectionTestRead:
    """Run the checks of one connection. The connection is read in a short transaction of its
    own: no transaction stays open while the vendors answer."""
    async with ctx.sessionmaker() as db:
        connection = await get_connection(db, connection_id)
    access = access_checks_for(connection, ctx)
    try:
        zoho, store = await asyncio.gather(_zoho_checks(ctx, connection_id, access), _store_checks(access))
        checks = zoho + store
    finally:
        await access.aclose()
    return ConnectionTestRead(connection_id=connection_id, ok=all(c.verdict == Verdict.PASSED for c in checks),
                              tested_at=datetime.now(UTC), checks=checks)


async def _zoho_checks(ctx: AppContext, connection_id: uuid.UUID, access: AccessChecks) -> list[CheckRead]:
    catalog = access.catalog
    if catalog is None:
        missing = "No Zoho refresh token is stored for this connection."
        return [_check("zoho.token", Finding.failed(missing, "Connect Zoho from the connection's page.")),
                _skipped("zoho.organization", "zoho.token"), _skipped("zoho.scopes", "zoho.token")]
    token = await catalog.check_token()
    if token.reconnect:  # Zoho refused the refresh token: runs stop until Zoho is connected again
        await mark_needs_reconnect(ctx, connection_id, token.detail)
    return await _chain([("zoho.token", lambda: _found(token)), ("zoho.organization", catalog.check_organization),
                         ("zoho.scopes", catalog.check_scopes)])


async def _found(finding: Finding) -> Finding:
    return finding


async def _store_checks(access: AccessChecks) -> list[CheckRead]:
    store, media = access.store, access.media
    if store is None:
        missing = "No store API key is stored for this connection."
        checks = [_check("store.read", Finding.failed(missing, "Connect the store, or paste a Read/Write key.")),
                  _skipped("store.write", "store.read")]
    else:
        checks = await _chain([("store.read", store.check_read), ("store.write", store.check_write)])
    if media is None:
        checks.append(CheckRead(name="store.media", verdict=Verdict.SKIPPED,
                                detail="No WordPress application password is stored: images go to the store by URL.",
                                hint="Connect media uploads to send images as files."))
    else:
        checks.append(_check("store.media", await media.check_upload()))
    return checks


async def _chain(probes: list[tuple[str, Probe]]) -> list[CheckRead]:
    """Each probe in turn; once one fails, the rest are skipped with its name as the reason."""
    checks: list[CheckRead] = []
    failed: str | None = None
    for name, probe in probes:
        checks.append(_skipped(name, failed) if failed else _check(name, await probe()))
        if failed is None and checks[-1].verdict == Verdict.FAILED:
            failed = name
    return checks


def _check(name: str, finding: Finding) -> CheckRead:
    return CheckRead(name=name, verdict=Verdict.PASSED if finding.passed else Verdict.FAILED,
                     detail=finding.detail, hint=finding.hint)


def _skipped(name: str, because: str) -> CheckRead:
    return CheckRead(name=name, verdict=Verdict.SKIPPED, detail=f"Skipped: {because} failed.",
                     hint=f"Fix {because} first.")
