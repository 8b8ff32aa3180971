"""run states: pausing and cancelling, fault pauses that resume by themselves, checked values

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 11:40:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_STATUSES = "'queued', 'running', 'pausing', 'paused', 'cancelling', 'cancelled', 'completed', 'failed'"
_KINDS = "'manual', 'webhook', 'catchup', 'scheduled'"


def upgrade() -> None:
    op.add_column('sync_runs', sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('sync_runs', sa.Column('faults', sa.Integer(), server_default='0', nullable=False))
    op.add_column('sync_runs', sa.Column('pace', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.create_index('ix_sync_runs_retry_at', 'sync_runs', ['retry_at'], unique=False,
                    postgresql_where=sa.text('retry_at IS NOT NULL'))
    op.drop_index('uq_sync_runs_one_active_per_connection', table_name='sync_runs')
    op.create_index('uq_sync_runs_one_active_per_connection', 'sync_runs', ['connection_id'], unique=True,
                    postgresql_where=sa.text(
                        "kind = 'manual' AND status IN ('queued', 'running', 'pausing', 'paused', 'cancelling')"))
    op.create_check_constraint(op.f('ck_sync_runs_status'), 'sync_runs', f"status IN ({_STATUSES})")
    op.create_check_constraint(op.f('ck_sync_runs_kind'), 'sync_runs', f"kind IN ({_KINDS})")


def downgrade() -> None:
    op.drop_constraint(op.f('ck_sync_runs_kind'), 'sync_runs', type_='check')
    op.drop_constraint(op.f('ck_sync_runs_status'), 'sync_runs', type_='check')
    op.drop_index('uq_sync_runs_one_active_per_connection', table_name='sync_runs')
    op.create_index('uq_sync_runs_one_active_per_connection', 'sync_runs', ['connection_id'], unique=True,
                    postgresql_where=sa.text("kind = 'manual' AND status IN ('queued', 'running', 'paused')"))
    op.drop_index('ix_sync_runs_retry_at', table_name='sync_runs')
    op.drop_column('sync_runs', 'pace')
    op.drop_column('sync_runs', 'faults')
    op.drop_column('sync_runs', 'retry_at')
