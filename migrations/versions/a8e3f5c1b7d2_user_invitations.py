"""users.invited_at: when the newest invitation to set a password was sent

Revision ID: a8e3f5c1b7d2
Revises: d4f1a9b3c2e6
Create Date: 2026-12-02 17:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'a8e3f5c1b7d2'
down_revision = 'd4f1a9b3c2e6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('invited_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('invited_at')
