"""retry runs: a run of an earlier run's failed items, and the status page's recent items

- `sync_runs.kind` takes `retry` (CHECKed, as in 0004): a run of the failed items of the run
  named by the new `sync_runs.retry_of` (ON DELETE SET NULL: a retry outlives its source).
- The one-active-run rule covers retries as it covers manual and scheduled runs: a retry writes
  products that a full run may be writing too.
- `ix_sync_run_items_done` (run_id, status, updated_at) over synced and failed items: the status
  page reads a run's newest ones once a second per open page. Built CONCURRENTLY, outside the
  migration's transaction: sync_run_items is the largest table and takes every run's writes.
  Dropped first if present, so a build that failed half way (an INVALID index) is simply redone.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 19:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_ACTIVE = "status IN ('queued', 'running', 'pausing', 'paused', 'cancelling')"
_KINDS = "'manual', 'webhook', 'catchup', 'scheduled'"


def upgrade() -> None:
    op.drop_constraint(op.f('ck_sync_runs_kind'), 'sync_runs', type_='check')
    op.create_check_constraint(op.f('ck_sync_runs_kind'), 'sync_runs', f"kind IN ({_KINDS}, 'retry')")
    op.add_column('sync_runs', sa.Column('retry_of', postgresql.UUID(as_uuid=True), nullable=True))
    op.create_foreign_key(op.f('fk_sync_runs_retry_of_sync_runs'), 'sync_runs', 'sync_runs', ['retry_of'], ['id'],
                          ondelete='SET NULL')
    op.create_index('ix_sync_runs_retry_of', 'sync_runs', ['retry_of'],
                    postgresql_where=sa.text('retry_of IS NOT NULL'))
    op.drop_index('uq_sync_runs_one_active_per_connection', table_name='sync_runs')
    op.create_index('uq_sync_runs_one_active_per_connection', 'sync_runs', ['connection_id'], unique=True,
                    postgresql_where=sa.text(f"kind IN ('manual', 'scheduled', 'retry') AND {_ACTIVE}"))
    with op.get_context().autocommit_block():
        op.execute('DROP INDEX CONCURRENTLY IF EXISTS ix_sync_run_items_done')
        op.create_index('ix_sync_run_items_done', 'sync_run_items', ['run_id', 'status', 'updated_at'],
                        postgresql_where=sa.text("status IN ('synced', 'failed')"), postgresql_concurrently=True)


def downgrade() -> None:
    op.drop_index('ix_sync_run_items_done', table_name='sync_run_items')
    # The old CHECK knows no retry kind: retries are kept, with their items, as manual runs.
    op.execute("UPDATE sync_runs SET kind = 'manual' WHERE kind = 'retry'")
    op.drop_index('uq_sync_runs_one_active_per_connection', table_name='sync_runs')
    op.create_index('uq_sync_runs_one_active_per_connection', 'sync_runs', ['connection_id'], unique=True,
                    postgresql_where=sa.text(f"kind IN ('manual', 'scheduled') AND {_ACTIVE}"))
    op.drop_index('ix_sync_runs_retry_of', table_name='sync_runs')
    op.drop_constraint(op.f('fk_sync_runs_retry_of_sync_runs'), 'sync_runs', type_='foreignkey')
    op.drop_column('sync_runs', 'retry_of')
    op.drop_constraint(op.f('ck_sync_runs_kind'), 'sync_runs', type_='check')
    op.create_check_constraint(op.f('ck_sync_runs_kind'), 'sync_runs', f"kind IN ({_KINDS})")
