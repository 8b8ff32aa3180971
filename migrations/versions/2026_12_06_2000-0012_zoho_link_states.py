"""Zoho link states: a connection can exist before Zoho is linked, and can need reconnecting

- `connections.zoho_organization_id` becomes nullable: a connection made with "Link by signing
  in" has no organization until the operator signs in to Zoho (and, with several, picks one).
- `connections.zoho_organization_name`: the picked organization's name, for the console.
- `connections.zoho_reconnect_reason` / `zoho_reconnect_at`: set when Zoho refuses the stored
  refresh token (the connection `needs_reconnect`), cleared by signing in again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 20:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column('connections', 'zoho_organization_id', existing_type=sa.String(64), nullable=True)
    op.add_column('connections', sa.Column('zoho_organization_name', sa.String(200), nullable=True))
    op.add_column('connections', sa.Column('zoho_reconnect_reason', sa.Text(), nullable=True))
    op.add_column('connections', sa.Column('zoho_reconnect_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('connections', 'zoho_reconnect_at')
    op.drop_column('connections', 'zoho_reconnect_reason')
    op.drop_column('connections', 'zoho_organization_name')
    # A connection never linked to Zoho cannot be kept without an organization.
    op.execute("DELETE FROM connections WHERE zoho_organization_id IS NULL")
    op.alter_column('connections', 'zoho_organization_id', existing_type=sa.String(64), nullable=False)
