"""`skubridge rotate-keys`: every stored secret re-sealed with SECRET_KEY, bound to its connection.

Every encrypted column (`PURPOSES` in app/core/crypto.py: `connections.credentials` and
`connections.webhook_secret`) is read with SECRET_KEY or any of SECRET_KEYS and written again
sealed with SECRET_KEY, a batch of connections per transaction, each batch's rows locked
(`FOR UPDATE`) so an API edit in between is not lost. A row whose blobs already are sealed
with SECRET_KEY and bound is left as it is, so a second run rewrites nothing, and
`updated_at` is kept: re-sealing changes no setting of the connection.

A blob that no known key opens stops the rotation, naming the connection: its batch is rolled
back, earlier batches stay committed (they are readable with SECRET_KEY alone) and a run
after the fix (the missing key added to SECRET_KEYS, or the connection deleted) carries on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.core.crypto import PURPOSES, CredentialsUnreadable, Keyring
from app.db.session import create_engine, create_sessionmaker, transaction
from app.models import Connection

BATCH_SIZE = 100


@dataclass
class Rotation:
    """What a rotation did: connections read, and those written again."""

    examined: int = 0
    rewritten: int = 0


async def rotate_with_settings(settings: Settings, *, batch_size: int = BATCH_SIZE) -> Rotation:
    """The CLI's entry: a database engine of its own (no Redis needed), closed at the end."""
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        return await rotate_keys(create_sessionmaker(engine), Keyring.from_settings(settings), batch_size=batch_size)
    finally:
        await engine.dispose()


async def rotate_keys(sessionmaker: async_sessionmaker[AsyncSession], keyring: Keyring, *,
                      batch_size: int = BATCH_SIZE) -> Rotation:
    """Re-seal every connection's secrets, `batch_size` connections per transaction."""
    report, after = Rotation(), None
    while True:
        try:
            async with transaction(sessionmaker) as session:
                ids = await _rotate_batch(session, keyring, after, batch_size, report)
        except CredentialsUnreadable as exc:
            raise CredentialsUnreadable(
                f"{exc}. Nothing of its batch was written; {report.rewritten} connection(s) of earlier batches were "
                "re-sealed. Add the key that sealed it to SECRET_KEYS (or delete the connection) and run "
                "rotate-keys again") from None
        if len(ids) < batch_size:
            return report
        after = ids[-1]


async def _rotate_batch(session: AsyncSession, keyring: Keyring, after: uuid.UUID | None, size: int,
                        report: Rotation) -> list[uuid.UUID]:
    """The next `size` connections by id, each written again when a blob needs re-sealing;
    the report is counted only once the whole batch has been re-sealed."""
    query = select(Connection.id, *(getattr(Connection, purpose) for purpose in PURPOSES)).order_by(Connection.id)
    rows = (await session.execute(
        (query if after is None else query.where(Connection.id > after)).limit(size).with_for_update())).all()
    changes = {row.id: _resealed(keyring, row) for row in rows}
    for connection_id, values in changes.items():
        if values:
            await session.execute(update(Connection).where(Connection.id == connection_id)
                                  .values(**values, updated_at=Connection.updated_at))
    report.examined += len(rows)
    report.rewritten += sum(1 for values in changes.values() if values)
    return [row.id for row in rows]


def _resealed(keyring: Keyring, row: Row[Any]) -> dict[str, str]:
    """Column → new blob, for each of the row's blobs not yet sealed with SECRET_KEY and bound."""
    values: dict[str, str] = {}
    for purpose in PURPOSES:
        blob = getattr(row, purpose)
        if blob is not None and (new := keyring.reseal(blob, connection_id=row.id, purpose=purpose)) is not None:
            values[purpose] = new
    return values
