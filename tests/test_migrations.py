"""Upgrading keeps data: a database at 0006 holding a connection, links, a run with items, a log
entry and a finished preview comes out of 0007 with every value under its store-words name."""

from __future__ import annotations

import asyncio
import json
import uuid

from alembic import command
from sqlalchemy import text

from app.db.migrate import alembic_config

CONNECTION, RUN, PREVIEW = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

OLD_ROWS = [
    ("INSERT INTO connections (id, name, zoho_organization_id, zoho_data_center, woo_base_url, woo_verify_tls,"
     " credentials, settings) VALUES (:c, 'Shop', '123', 'eu', 'https://shop.example', false, 'blob', '{}')"),
    "INSERT INTO product_links (connection_id, kind, zoho_id, woo_id, woo_parent_id) VALUES (:c, 'variation', 'z1', 501, 500)",
    "INSERT INTO sync_runs (id, connection_id, kind, status) VALUES (:r, :c, 'manual', 'completed')",
    ("INSERT INTO sync_run_items (run_id, zoho_item_id, action, status, attempts, woo_id)"
     " VALUES (:r, 'z1', 'update', 'synced', 1, 501)"),
    "INSERT INTO sync_logs (level, message, woo_id, connection_id, run_id) VALUES ('info', 'updated', 501, :c, :r)",
    ("INSERT INTO previews (id, connection_id, status, result) VALUES (:p, :c, 'completed',"
     " '[{\"sku\": \"A-1\", \"woo_id\": 501, \"action\": \"update\"}, {\"sku\": \"B-2\", \"woo_id\": null}]')"),
]


async def upgrade_holding(ctx, settings, revision: str, statements: list[str], params: dict[str, object]) -> None:
    """Go down to `revision`, write `statements` there (each gets the `params` it names), and
    come back up to head, even when a write fails."""
    config = alembic_config(settings.database_url)
    await asyncio.to_thread(command.downgrade, config, revision)
    try:
        async with ctx.engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement).bindparams(
                    **{k: v for k, v in params.items() if f":{k}" in statement}))
    finally:
        await asyncio.to_thread(command.upgrade, config, "head")


async def test_upgrading_to_store_words_keeps_every_value(ctx, settings) -> None:
    await upgrade_holding(ctx, settings, "0006", OLD_ROWS, {"c": CONNECTION, "r": RUN, "p": PREVIEW})

    async with ctx.engine.connect() as conn:
        connection = (await conn.execute(text(
            "SELECT platform, store_base_url, store_verify_tls FROM connections WHERE id = :c"), {"c": CONNECTION})).one()
        link = (await conn.execute(text("SELECT store_id, store_parent_id FROM product_links"))).one()
        item = await conn.scalar(text("SELECT store_id FROM sync_run_items WHERE run_id = :r"), {"r": RUN})
        logged = await conn.scalar(text("SELECT store_id FROM sync_logs WHERE run_id = :r"), {"r": RUN})
        result = await conn.scalar(text("SELECT result FROM previews WHERE id = :p"), {"p": PREVIEW})
    assert tuple(connection) == ("woocommerce", "https://shop.example", False)
    assert tuple(link) == (501, 500) and item == 501 and logged == 501
    rows = result if isinstance(result, list) else json.loads(result)
    assert rows == [{"sku": "A-1", "store_id": 501, "action": "update"}, {"sku": "B-2", "store_id": None}]


async def test_the_platform_is_checked(ctx) -> None:
    from sqlalchemy.exc import IntegrityError

    async with ctx.engine.connect() as conn:
        try:
            await conn.execute(text(
                "INSERT INTO connections (id, name, zoho_organization_id, zoho_data_center, store_base_url,"
                " store_verify_tls, credentials, settings, platform)"
                " VALUES (gen_random_uuid(), 'x', '1', 'com', 'https://s', true, 'b', '{}', 'magento')"))
        except IntegrityError as exc:
            assert "ck_connections_platform" in str(exc)
        else:
            raise AssertionError("a connection with an unknown platform was stored")


TYPED_RUN = uuid.uuid4()
PREFIXED_ROWS = [
    ("INSERT INTO connections (id, name, zoho_organization_id, zoho_data_center, store_base_url, store_verify_tls,"
     " credentials, settings) VALUES (:c, 'Shop', '123', 'eu', 'https://shop.example', false, 'blob', '{}')"),
    "INSERT INTO sync_runs (id, connection_id, kind, status) VALUES (:r, :c, 'manual', 'paused')",
    ("INSERT INTO sync_run_items (run_id, zoho_item_id, kind, parent_key, action, status, attempts, store_id, payload)"
     " VALUES (:r, 'group:G1', 'variable', NULL, 'update', 'pending', 0, 500, '{\"draft\": {\"kind\": \"variable\"}}'),"
     " (:r, 'z1', 'variation', 'group:G1', 'create', 'pending', 0, NULL, '{\"draft\": {\"sku\": \"V-1\"}}'),"
     " (:r, 'parent:600', 'variable', NULL, 'unchanged', 'pending', 0, 600, NULL),"
     " (:r, 'z2', 'variation', 'parent:600', 'update', 'pending', 0, 601,"
     "  '{\"draft\": {\"retire\": \"private\"}, \"retire\": true}'),"
     " (:r, 'z3', 'product', NULL, 'update', 'synced', 1, 700, NULL)"),
    ("INSERT INTO previews (id, connection_id, status, result) VALUES (:p, :c, 'completed',"
     " '[{\"zoho_item_id\": \"group:G1\", \"kind\": \"variable\"}, {\"zoho_item_id\": \"z1\", \"parent\": \"group:G1\"},"
     " {\"zoho_item_id\": \"parent:600\", \"kind\": \"variable\"}, {\"zoho_item_id\": \"z2\", \"parent\": \"parent:600\"},"
     " {\"zoho_item_id\": \"z3\"}]')"),
]


async def test_upgrading_to_the_typed_plan_moves_kinds_out_of_ids(ctx, settings) -> None:
    """A run planned with "group:"/"parent:" ids resumes after the upgrade: the same heads, the
    same variations under them, payloads read as version 0."""
    from app.syncs.plan import RetirementDraft, VariableDraft, VariationDraft, load_payload
    from app.syncs.state import claim_rows

    connection, preview = uuid.uuid4(), uuid.uuid4()
    await upgrade_holding(ctx, settings, "0008", PREFIXED_ROWS, {"c": connection, "r": TYPED_RUN, "p": preview})

    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT zoho_item_id, kind, group_id, parent_store_id, store_id FROM sync_run_items"
            " WHERE run_id = :r ORDER BY id"), {"r": TYPED_RUN})).all()
        result = await conn.scalar(text("SELECT result FROM previews WHERE id = :p"), {"p": preview})
    assert [tuple(r) for r in rows] == [("G1", "variable", "G1", None, 500), ("z1", "variation", "G1", None, None),
                                        (None, "variable", None, None, 600), ("z2", "variation", None, 600, 601),
                                        ("z3", "product", None, None, 700)]
    assert (result if isinstance(result, list) else json.loads(result)) == [
        {"zoho_item_id": "G1", "kind": "variable", "group": "G1"}, {"zoho_item_id": "z1", "group": "G1"},
        {"zoho_item_id": None, "kind": "variable"}, {"zoho_item_id": "z2", "parent_store_id": 600},
        {"zoho_item_id": "z3"}]

    async with ctx.sessionmaker() as session:  # the resumed run claims each head with its variation
        await session.execute(text("UPDATE sync_runs SET status = 'running', driver_token = 't' WHERE id = :r"),
                              {"r": TYPED_RUN})
        claimed = await claim_rows(session, run_id=TYPED_RUN, token="t", size=10, lease_seconds=60)
        await session.rollback()
    assert sorted((c.zoho_item_id or "", c.kind) for c in claimed) == [
        ("", "variable"), ("G1", "variable"), ("z1", "variation"), ("z2", "variation")]
    payloads = {c.zoho_item_id: load_payload(c.payload, c.kind) for c in claimed}
    assert payloads == {"G1": VariableDraft({"kind": "variable"}, {}), "z1": VariationDraft({"sku": "V-1"}),
                        None: None, "z2": RetirementDraft({"retire": "private"})}
