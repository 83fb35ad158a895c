"""Lists page by keyset, newest first, within a company or a task: indexes that end with the
id, so that a page is an index range however long the history (checked with EXPLAIN by
tests/webapp/test_list_indexes.py)

Revision ID: a17c3e5b9d21
Revises: a7c3e9f1b2d4
Create Date: 2026-12-02 17:30:00

"""
from alembic import op

revision = 'a17c3e5b9d21'
down_revision = 'a7c3e9f1b2d4'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_runs_task_status_id', 'runs', ['task_id', 'status', 'id']),
    ('ix_outbox_messages_company_id_id', 'outbox_messages', ['company_id', 'id']),
    ('ix_audit_events_company_id_id', 'audit_events', ['company_id', 'id']),
    ('ix_tasks_company_name', 'tasks', ['company_id', 'name']),
)


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade():
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
