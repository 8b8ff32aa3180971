"""webhook intake: a partial index on the queued events

The webhook pass (`_QUEUED_ITEMS`, `_MORE_EVENTS` in app/webhooks/passes.py) and the stale-event
recovery (`_STALE_EVENTS` in app/webhooks/recovery.py, every recovery interval, over all
connections) look for `outcome = 'queued'` by connection and received time. Without this index
they read every event of the retention period; with it, only the few still queued.

Built CONCURRENTLY: webhook_events takes the intake's inserts while the index is built, and a
plain CREATE INDEX would hold them back for the whole build. If the build fails it leaves an
INVALID index: drop it and run the migration again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 14:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index('ix_webhook_events_queued', 'webhook_events', ['connection_id', 'received_at'], unique=False,
                        postgresql_where=sa.text("outcome = 'queued'"), postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index('ix_webhook_events_queued', table_name='webhook_events', postgresql_concurrently=True)
