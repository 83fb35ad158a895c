"""The audit log's filters by action and by actor read an index range: (company_id, action,
id), (company_id, lower(actor), id) and, for both, (company_id, lower(actor), action, id), so
that a filtered page is a keyset range however long the history (checked with EXPLAIN by
tests/webapp/test_list_indexes.py)

Revision ID: b3d8f2a6c1e9
Revises: a9e3c5d7f1b2
Create Date: 2026-12-03 08:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'b3d8f2a6c1e9'
down_revision = 'a9e3c5d7f1b2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_audit_events_company_action_id', 'audit_events',
                    ['company_id', 'action', 'id'], unique=False)
    op.create_index('ix_audit_events_company_actor_id', 'audit_events',
                    ['company_id', sa.text('lower(actor)'), 'id'], unique=False)
    op.create_index('ix_audit_events_company_actor_action_id', 'audit_events',
                    ['company_id', sa.text('lower(actor)'), 'action', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_audit_events_company_actor_action_id', table_name='audit_events')
    op.drop_index('ix_audit_events_company_actor_id', table_name='audit_events')
    op.drop_index('ix_audit_events_company_action_id', table_name='audit_events')
