"""run modes and schedules: a run's mode, the due time a scheduled run answers, field changes

- `sync_runs.mode` (CHECKed: standard, verify): a verify run compares the store's own records
  with Zoho field by field instead of trusting the content hash.
- `sync_runs.scheduled_for`: the due time a scheduled run was started for, unique per
  connection, so several workers that see the same schedule fall due start exactly one run.
- The one-active-run rule covers scheduled runs as it covers manual ones: both plan the whole
  catalogue, and two at once would write the same products twice.
- `sync_run_items.changes`: what a run changed in the store, field by field (`field`, `store`,
  `zoho`), as a verify run reports its repairs.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 18:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_ACTIVE = "status IN ('queued', 'running', 'pausing', 'paused', 'cancelling')"


def upgrade() -> None:
    op.add_column('sync_runs', sa.Column('mode', sa.String(16), nullable=False, server_default='standard'))
    op.create_check_constraint(op.f('ck_sync_runs_mode'), 'sync_runs', "mode IN ('standard', 'verify')")
    op.add_column('sync_runs', sa.Column('scheduled_for', sa.DateTime(timezone=True), nullable=True))
    op.create_index('uq_sync_runs_schedule_due', 'sync_runs', ['connection_id', 'scheduled_for'], unique=True,
                    postgresql_where=sa.text('scheduled_for IS NOT NULL'))
    op.drop_index('uq_sync_runs_one_active_per_connection', table_name='sync_runs')
    op.create_index('uq_sync_runs_one_active_per_connection', 'sync_runs', ['connection_id'], unique=True,
                    postgresql_where=sa.text(f"kind IN ('manual', 'scheduled') AND {_ACTIVE}"))
    op.add_column('sync_run_items', sa.Column('changes', postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column('sync_run_items', 'changes')
    op.drop_index('uq_sync_runs_one_active_per_connection', table_name='sync_runs')
    op.create_index('uq_sync_runs_one_active_per_connection', 'sync_runs', ['connection_id'], unique=True,
                    postgresql_where=sa.text(f"kind = 'manual' AND {_ACTIVE}"))
    op.drop_index('uq_sync_runs_schedule_due', table_name='sync_runs')
    op.drop_column('sync_runs', 'scheduled_for')
    op.drop_constraint(op.f('ck_sync_runs_mode'), 'sync_runs', type_='check')
    op.drop_column('sync_runs', 'mode')
