"""tasks.following_run_at is named for what it means: the instant after a prepared run

Revision ID: c7a4e1d2f830
Revises: b5d0c2e7a914
Create Date: 2026-11-29 14:40:00

"""
from alembic import op

revision = 'c7a4e1d2f830'
down_revision = 'b5d0c2e7a914'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.alter_column('following_run_at', new_column_name='prepared_following_at')


def downgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.alter_column('prepared_following_at', new_column_name='following_run_at')
