"""The migrations build exactly the schema the models describe, and its CHECKs hold."""

from __future__ import annotations

import re
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, text
from sqlalchemy.exc import IntegrityError

from app.models import Base

CONNECTION, RUN, PREVIEW = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
# One row in every table with a checked column, each holding valid values.
ROWS = [
    ("INSERT INTO connections (id, name, zoho_organization_id, zoho_data_center, store_base_url, store_verify_tls,"
     " credentials, settings) VALUES (:c, 'Shop', '1', 'eu', 'https://shop.example', true, 'blob', '{}')"),
    "INSERT INTO sync_runs (id, connection_id, kind, status) VALUES (:r, :c, 'manual', 'completed')",
    "INSERT INTO sync_run_items (run_id, zoho_item_id, action, status, attempts) VALUES (:r, 'z1', 'update', 'synced', 1)",
    "INSERT INTO product_links (connection_id, kind, zoho_id, store_id) VALUES (:c, 'product', 'z1', 501)",
    "INSERT INTO webhook_events (connection_id, zoho_item_id, outcome) VALUES (:c, 'z1', 'queued')",
    "INSERT INTO previews (id, connection_id, status) VALUES (:p, :c, 'queued')",
    "INSERT INTO sync_logs (level, message) VALUES ('info', 'hello')",
]


async def test_models_match_the_migrated_schema(ctx):
    async with ctx.engine.connect() as conn:
        diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    assert diff == []


def _model_checks() -> dict[str, set[str]]:
    """Constraint name → the values the model's CHECK allows (Alembic's comparison skips CHECKs)."""
    return {str(c.name): set(re.findall(r"'([^']*)'", str(c.sqltext)))
            for table in Base.metadata.tables.values() for c in table.constraints if isinstance(c, CheckConstraint)}


async def test_the_migrated_checks_allow_what_the_models_allow(ctx):
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint"
            " WHERE contype = 'c' AND conrelid <> 0 AND connamespace = 'public'::regnamespace"))).all()
    migrated = {name: set(re.findall(r"'([^']*)'", definition)) for name, definition, _ in rows}
    assert len(_model_checks()) >= 10
    assert migrated == _model_checks()
    assert all(valid for _, _, valid in rows)


@pytest.mark.parametrize("constraint", sorted(_model_checks()))
async def test_the_database_refuses_an_unknown_value(ctx, constraint):
    table = next(t for t in Base.metadata.tables.values() if any(c.name == constraint for c in t.constraints))
    column = constraint.removeprefix(f"ck_{table.name}_")
    async with ctx.engine.connect() as conn:
        for statement in ROWS:
            await conn.execute(text(statement).bindparams(
                **{k: v for k, v in {"c": CONNECTION, "r": RUN, "p": PREVIEW}.items() if f":{k}" in statement}))
        for value in _model_checks()[constraint]:  # every value the code may write is taken
            await conn.execute(text(f"UPDATE {table.name} SET {column} = :v"), {"v": value})
        with pytest.raises(IntegrityError, match=constraint):
            await conn.execute(text(f"UPDATE {table.name} SET {column} = 'bogus'"))
        await conn.rollback()
