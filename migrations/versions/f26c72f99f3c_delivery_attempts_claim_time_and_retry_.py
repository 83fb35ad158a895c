"""delivery attempts: claim time and retry time

deliveries.claimed_at: when the current attempt was claimed (a "sending" row older than the
stale limit belonged to a worker that died); deliveries.next_attempt_at: when a failed
delivery is retried (NULL: sent, or no attempt left).

Revision ID: f26c72f99f3c
Revises: aca5110e6ba7
Create Date: 2026-11-27 07:50:52.791023

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f26c72f99f3c'
down_revision = 'aca5110e6ba7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_deliveries_next_attempt_at'), ['next_attempt_at'], unique=False)



def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_next_attempt_at'))
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('claimed_at')

