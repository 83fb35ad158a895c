"""Operations: runs expire (retention), with an index to find old runs; alerts (a task's
owner, its silence, a run's alert, users' opt-in)

Revision ID: e4b7c1a9d305
Revises: c7a4e1d2f830
Create Date: 2026-11-30 10:00:00

"""
import sqlalchemy as sa
from alembic import op


revision = 'e4b7c1a9d305'
down_revision = 'c7a4e1d2f830'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expired_at', sa.DateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('alerted_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_runs_status_finished', ['status', 'finished_at'],
                              unique=False)
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('success_due_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('silent_since', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key('fk_tasks_created_by_id_users', 'users',
                                    ['created_by_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failure_alerts', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))
    # Runs that failed before alerts existed are not alerted now.
    op.execute("UPDATE runs SET alerted_at = finished_at "
               "WHERE status IN ('failed', 'partial')")


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('failure_alerts')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_constraint('fk_tasks_created_by_id_users', type_='foreignkey')
        batch_op.drop_column('silent_since')
        batch_op.drop_column('success_due_at')
        batch_op.drop_column('created_by_id')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_status_finished')
        batch_op.drop_column('alerted_at')
        batch_op.drop_column('expired_at')
