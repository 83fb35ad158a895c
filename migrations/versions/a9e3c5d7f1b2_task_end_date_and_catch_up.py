"""tasks: an end date (ends_on, and its instant ends_at) and a catch-up policy

Revision ID: a9e3c5d7f1b2
Revises: a17c3e5b9d21
Create Date: 2026-12-02 17:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'a9e3c5d7f1b2'
down_revision = 'a17c3e5b9d21'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ends_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('ends_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('catch_up', sa.String(length=8), nullable=False,
                                      server_default='combine'))


def downgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_column('catch_up')
        batch_op.drop_column('ends_at')
        batch_op.drop_column('ends_on')
