"""media claims: an upload's lease on its picture instead of a lock held during the upload

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 12:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('media_assets', sa.Column('claim_token', sa.String(length=64), nullable=True))
    op.add_column('media_assets', sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('media_assets', 'claimed_at')
    op.drop_column('media_assets', 'claim_token')
