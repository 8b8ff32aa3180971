"""catalogue fidelity: variable products, images, previews

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 01:30:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Run items: the group a variant belongs to (its head row's zoho_item_id), the item kind, and
    # the image step that follows the product write.
    op.add_column('sync_run_items', sa.Column('kind', sa.String(length=16), server_default='product', nullable=False))
    op.add_column('sync_run_items', sa.Column('parent_key', sa.String(length=80), nullable=True))
    op.add_column('sync_run_items', sa.Column('image_state', sa.String(length=16), nullable=True))
    op.create_index('ix_sync_run_items_parent', 'sync_run_items', ['run_id', 'parent_key'], unique=False,
                    postgresql_where=sa.text('parent_key IS NOT NULL'))
    op.create_index('ix_sync_run_items_images', 'sync_run_items', ['run_id', 'id'], unique=False,
                    postgresql_where=sa.text("image_state = 'pending'"))
    op.alter_column('sync_run_items', 'zoho_item_id', type_=sa.String(length=80))
    op.alter_column('product_links', 'zoho_id', type_=sa.String(length=80))
    op.add_column('product_links', sa.Column('retired', sa.Boolean(), server_default='false', nullable=False))

    # A Zoho image identity → the optimised file's hash and the store's media id (or why not).
    op.create_table('image_sources',
    sa.Column('connection_id', sa.UUID(), nullable=False),
    sa.Column('image_key', sa.String(length=300), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_image_sources_connection_id_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('connection_id', 'image_key', name=op.f('pk_image_sources'))
    )
    # Optimised content → the store's media id: no image is uploaded twice.
    op.create_table('media_assets',
    sa.Column('connection_id', sa.UUID(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('media_id', sa.BigInteger(), nullable=True),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('data', postgresql.BYTEA(), nullable=True),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_media_assets_connection_id_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('connection_id', 'content_sha256', name=op.f('pk_media_assets'))
    )
    op.create_table('previews',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('connection_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('summary', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_previews_connection_id_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_previews'))
    )
    op.create_index('ix_previews_connection_created', 'previews', ['connection_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_previews_connection_created', table_name='previews')
    op.drop_table('previews')
    op.drop_table('media_assets')
    op.drop_table('image_sources')
    op.drop_column('product_links', 'retired')
    op.alter_column('product_links', 'zoho_id', type_=sa.String(length=64))
    op.alter_column('sync_run_items', 'zoho_item_id', type_=sa.String(length=64))
    op.drop_index('ix_sync_run_items_images', table_name='sync_run_items')
    op.drop_index('ix_sync_run_items_parent', table_name='sync_run_items')
    op.drop_column('sync_run_items', 'image_state')
    op.drop_column('sync_run_items', 'parent_key')
    op.drop_column('sync_run_items', 'kind')
