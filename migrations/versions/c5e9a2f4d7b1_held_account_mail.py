"""held_account_mail: an invitation or password-link mail whose transaction committed while
Redis could not take its job, kept encrypted until the dispatcher tick queues it

Revision ID: c5e9a2f4d7b1
Revises: b3d8f2a6c1e9
Create Date: 2026-12-04 21:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'c5e9a2f4d7b1'
down_revision = 'b3d8f2a6c1e9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'held_account_mail',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('company_id', sa.Integer(), nullable=False),
        sa.Column('sealed', sa.Text(), nullable=False),
        sa.Column('held_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_held_account_mail_company_id'), 'held_account_mail',
                    ['company_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_held_account_mail_company_id'), table_name='held_account_mail')
    op.drop_table('held_account_mail')
