"""Runs prepared ahead of their instant: tasks.following_run_at (issue 3)

Revision ID: b5d0c2e7a914
Revises: 68143539445e
Create Date: 2026-11-27 10:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5d0c2e7a914'
down_revision = '68143539445e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('following_run_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_column('following_run_at')
