"""checked values: the status, kind, action, outcome and level columns take only known values

Every column that holds one of a fixed set of values gets a CHECK, as sync_runs' status and kind
did in 0004: sync_run_items (kind, action, status), product_links.kind, webhook_events.outcome,
previews.status and sync_logs.level. The values are the models' enums as of this revision,
written out here so that a later change of an enum needs a migration of its own. Existing rows
already hold only these values (the code never wrote others), so nothing is rewritten.

Added NOT VALID, then validated, each step committed on its own: webhook_events and sync_logs
hold the retention period's millions of rows and take the intake's and the sync's inserts, and
validating scans a table without holding its writers back, where a plain ADD CONSTRAINT would
block them for the whole scan. Each constraint is dropped first if present, so a run that failed
half way can simply be run again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 16:00:00
"""

from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

CHECKS = [
    ('sync_run_items', 'kind', ('product', 'variable', 'variation')),
    ('sync_run_items', 'action', ('create', 'update', 'unchanged', 'skip')),
    ('sync_run_items', 'status', ('pending', 'synced', 'failed', 'skipped', 'cancelled')),
    ('product_links', 'kind', ('product', 'variable', 'variation')),
    ('webhook_events', 'outcome',
     ('queued', 'synced', 'unchanged', 'skipped', 'failed', 'not_found', 'ignored', 'rejected')),
    ('previews', 'status', ('queued', 'running', 'completed', 'failed')),
    ('sync_logs', 'level', ('debug', 'info', 'warning', 'error')),
]


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for table, column, values in CHECKS:
            name, allowed = f'ck_{table}_{column}', ', '.join(repr(v) for v in values)
            op.execute(f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}')
            op.execute(f'ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({column} IN ({allowed})) NOT VALID')
            op.execute(f'ALTER TABLE {table} VALIDATE CONSTRAINT {name}')


def downgrade() -> None:
    for table, column, _ in reversed(CHECKS):
        op.drop_constraint(op.f(f'ck_{table}_{column}'), table, type_='check')
