"""Operations: runs expire (retention), with an index to find old runs

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
        batch_op.create_index('ix_runs_status_finished', ['status', 'finished_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_status_finished')
        batch_op.drop_column('expired_at')
