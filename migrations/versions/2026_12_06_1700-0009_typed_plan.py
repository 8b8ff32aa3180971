"""typed plan: a run item's kind and group are fields of their own, not prefixes of its id

Until now a variable product's run item had the zoho_item_id "group:<group id>", a variable
product no item group stood for "parent:<store id>", and a variation pointed at its head's row
by that key (`parent_key`). Now:
- `group_id`: the item group a variable product row is, or a variation row is written under;
- `parent_store_id`: for a variation under a variable product no group stands for, its store id;
- `zoho_item_id` holds the group id for a variable product (as product_links.zoho_id does) and
  nothing for one no group stands for, so it becomes nullable, and the idempotency key is
  (run_id, kind, zoho_item_id): a group id may equal an item id.
Existing rows are converted, so runs planned before the upgrade resume and read as they did;
finished previews, which keep their rows as JSON, have their `parent` key and prefixed ids
converted the same way. Payloads need nothing: an unversioned payload is read as version 0.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 17:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_CONVERT_ITEMS = """
    UPDATE sync_run_items SET
        group_id = CASE WHEN zoho_item_id LIKE 'group:%' THEN substr(zoho_item_id, 7)
                        WHEN parent_key LIKE 'group:%' THEN substr(parent_key, 7) END,
        parent_store_id = CASE WHEN parent_key LIKE 'parent:%' THEN CAST(substr(parent_key, 8) AS bigint) END,
        zoho_item_id = CASE WHEN zoho_item_id LIKE 'group:%' THEN substr(zoho_item_id, 7)
                            WHEN zoho_item_id LIKE 'parent:%' THEN NULL ELSE zoho_item_id END
    WHERE zoho_item_id LIKE 'group:%' OR zoho_item_id LIKE 'parent:%' OR parent_key IS NOT NULL
"""
_RESTORE_ITEMS = """
    UPDATE sync_run_items i SET
        parent_key = CASE WHEN i.kind = 'variable' THEN NULL
                          WHEN i.group_id IS NOT NULL THEN 'group:' || i.group_id
                          WHEN i.parent_store_id IS NOT NULL THEN 'parent:' || i.parent_store_id END,
        zoho_item_id = CASE WHEN i.kind <> 'variable' THEN i.zoho_item_id
                            WHEN i.group_id IS NOT NULL THEN 'group:' || i.group_id
                            ELSE 'parent:' || i.store_id END
    WHERE i.kind = 'variable' OR i.group_id IS NOT NULL OR i.parent_store_id IS NOT NULL
"""
# A preview row (JSON): "parent" becomes "group" or "parent_store_id"; a variable product's
# prefixed zoho_item_id becomes its group id, or null.
_CONVERT_PREVIEW_ROW = """
    CASE WHEN NOT (elem ? 'parent' OR elem ->> 'zoho_item_id' LIKE 'group:%'
                   OR elem ->> 'zoho_item_id' LIKE 'parent:%') THEN elem
    ELSE (elem - 'parent')
         || CASE WHEN elem ->> 'parent' LIKE 'group:%'
                 THEN jsonb_build_object('group', substr(elem ->> 'parent', 7))
                 WHEN elem ->> 'parent' LIKE 'parent:%'
                 THEN jsonb_build_object('parent_store_id', CAST(substr(elem ->> 'parent', 8) AS bigint))
                 ELSE '{}'::jsonb END
         || CASE WHEN elem ->> 'zoho_item_id' LIKE 'group:%'
                 THEN jsonb_build_object('zoho_item_id', substr(elem ->> 'zoho_item_id', 7),
                                         'group', substr(elem ->> 'zoho_item_id', 7))
                 WHEN elem ->> 'zoho_item_id' LIKE 'parent:%'
                 THEN jsonb_build_object('zoho_item_id', NULL)
                 ELSE '{}'::jsonb END
    END
"""
_CONVERT_PREVIEWS = f"""
    UPDATE previews SET result = (
        SELECT coalesce(jsonb_agg({_CONVERT_PREVIEW_ROW} ORDER BY n), '[]'::jsonb)
        FROM jsonb_array_elements(result) WITH ORDINALITY AS elems(elem, n))
    WHERE result IS NOT NULL AND jsonb_typeof(result) = 'array'
"""


def upgrade() -> None:
    op.add_column('sync_run_items', sa.Column('group_id', sa.String(80), nullable=True))
    op.add_column('sync_run_items', sa.Column('parent_store_id', sa.BigInteger(), nullable=True))
    op.alter_column('sync_run_items', 'zoho_item_id', existing_type=sa.String(80), nullable=True)
    op.execute(_CONVERT_ITEMS)
    op.drop_constraint('uq_sync_run_items_run_id_zoho_item_id', 'sync_run_items', type_='unique')
    op.create_unique_constraint(op.f('uq_sync_run_items_run_id_kind_zoho_item_id'), 'sync_run_items',
                                ['run_id', 'kind', 'zoho_item_id'])
    op.drop_index('ix_sync_run_items_parent', table_name='sync_run_items')
    op.drop_column('sync_run_items', 'parent_key')
    op.create_index('ix_sync_run_items_group', 'sync_run_items', ['run_id', 'group_id'],
                    postgresql_where=sa.text('group_id IS NOT NULL'))
    op.create_index('ix_sync_run_items_parent_store', 'sync_run_items', ['run_id', 'parent_store_id'],
                    postgresql_where=sa.text('parent_store_id IS NOT NULL'))
    op.execute(_CONVERT_PREVIEWS)


def downgrade() -> None:
    # Previews keep their new keys: the older code reads a preview row's missing "parent" as none.
    op.add_column('sync_run_items', sa.Column('parent_key', sa.String(80), nullable=True))
    op.execute(_RESTORE_ITEMS)
    op.drop_index('ix_sync_run_items_parent_store', table_name='sync_run_items')
    op.drop_index('ix_sync_run_items_group', table_name='sync_run_items')
    op.create_index('ix_sync_run_items_parent', 'sync_run_items', ['run_id', 'parent_key'],
                    postgresql_where=sa.text('parent_key IS NOT NULL'))
    op.drop_constraint(op.f('uq_sync_run_items_run_id_kind_zoho_item_id'), 'sync_run_items', type_='unique')
    op.create_unique_constraint('uq_sync_run_items_run_id_zoho_item_id', 'sync_run_items', ['run_id', 'zoho_item_id'])
    op.alter_column('sync_run_items', 'zoho_item_id', existing_type=sa.String(80), nullable=False)
    op.drop_column('sync_run_items', 'parent_store_id')
    op.drop_column('sync_run_items', 'group_id')
