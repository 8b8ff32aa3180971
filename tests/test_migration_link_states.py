"""Migration 0012 (Zoho link states): a connection from before comes out linked as it was, with
no reconnect pending; one never linked to Zoho can be stored afterwards."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.test_migrations import upgrade_holding

CONNECTION = uuid.uuid4()
OLD = [("INSERT INTO connections (id, name, zoho_organization_id, zoho_data_center, platform, store_base_url,"
        " store_verify_tls, credentials, settings) VALUES (:c, 'Shop', '123', 'eu', 'woocommerce',"
        " 'https://shop.example', true, 'blob', '{}')")]


async def test_existing_connections_keep_their_organization_and_need_no_reconnect(ctx, settings) -> None:
    await upgrade_holding(ctx, settings, "0010", OLD, {"c": CONNECTION})
    async with ctx.engine.begin() as conn:
        row = (await conn.execute(text(
            "SELECT zoho_organization_id, zoho_organization_name, zoho_reconnect_reason, zoho_reconnect_at"
            " FROM connections WHERE id = :c"), {"c": CONNECTION})).one()
        assert tuple(row) == ("123", None, None, None)
        await conn.execute(text("UPDATE connections SET zoho_organization_id = NULL WHERE id = :c"), {"c": CONNECTION})
