"""schema in the store's words: woo_* columns become store_*, connections get a platform

The columns that hold a store's ids and address are named for what they are in any store
platform (`store_id`, `store_parent_id`, `store_base_url`, `store_verify_tls`), and
`connections.platform` (CHECKed; every existing connection is a WooCommerce store) says which
platform it is. Renames keep every value; finished previews, which keep their rows as JSON, have
their `woo_id` keys renamed too. `connections.webhook_last_received_at` goes: it was never
written (the last event's time is read from webhook_events).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 15:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

RENAMES = [
    ('connections', 'woo_base_url', 'store_base_url'),
    ('connections', 'woo_verify_tls', 'store_verify_tls'),
    ('product_links', 'woo_id', 'store_id'),
    ('product_links', 'woo_parent_id', 'store_parent_id'),
    ('sync_run_items', 'woo_id', 'store_id'),
    ('sync_logs', 'woo_id', 'store_id'),
]

_RENAME_PREVIEW_KEY = """
    UPDATE previews SET result = (
        SELECT coalesce(jsonb_agg(CASE WHEN elem ? '{old}' THEN (elem - '{old}') || jsonb_build_object('{new}', elem -> '{old}')
                                       ELSE elem END ORDER BY n), '[]'::jsonb)
        FROM jsonb_array_elements(result) WITH ORDINALITY AS elems(elem, n))
    WHERE result IS NOT NULL AND jsonb_typeof(result) = 'array'
"""


def upgrade() -> None:
    for table, old, new in RENAMES:
        op.alter_column(table, old, new_column_name=new)
    op.execute('ALTER INDEX ix_product_links_connection_woo RENAME TO ix_product_links_connection_store')
    op.add_column('connections', sa.Column('platform', sa.String(32), nullable=False, server_default='woocommerce'))
    op.create_check_constraint(op.f('ck_connections_platform'), 'connections', "platform IN ('woocommerce')")
    op.drop_column('connections', 'webhook_last_received_at')
    op.execute(_RENAME_PREVIEW_KEY.format(old='woo_id', new='store_id'))


def downgrade() -> None:
    op.execute(_RENAME_PREVIEW_KEY.format(old='store_id', new='woo_id'))
    op.add_column('connections', sa.Column('webhook_last_received_at', sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f('ck_connections_platform'), 'connections', type_='check')
    op.drop_column('connections', 'platform')
    op.execute('ALTER INDEX ix_product_links_connection_store RENAME TO ix_product_links_connection_woo')
    for table, old, new in RENAMES:
        op.alter_column(table, new, new_column_name=old)
