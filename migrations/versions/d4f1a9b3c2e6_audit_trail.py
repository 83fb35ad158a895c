"""audit_events: actor, target (type, id, name) and details; downloads become run.download

Revision ID: d4f1a9b3c2e6
Revises: e4b7c1a9d305
Create Date: 2026-11-29 15:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'd4f1a9b3c2e6'
down_revision = 'e4b7c1a9d305'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor', sa.String(length=254), nullable=False,
                                      server_default='system'))
        batch_op.add_column(sa.Column('target_type', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('target_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('target_name', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=True))
    op.execute("UPDATE audit_events SET actor = (SELECT email FROM users "
               "WHERE users.id = audit_events.user_id) WHERE user_id IS NOT NULL")
    op.execute("UPDATE audit_events SET target_type = 'run', target_id = run_id, "
               "action = CASE WHEN result = 'refused' THEN 'run.download_refused' "
               "ELSE 'run.download' END WHERE action = 'download'")


def downgrade():
    op.execute("UPDATE audit_events SET action = 'download' "
               "WHERE action IN ('run.download', 'run.download_refused')")
    op.execute("DELETE FROM audit_events WHERE action <> 'download'")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('details')
        batch_op.drop_column('target_name')
        batch_op.drop_column('target_id')
        batch_op.drop_column('target_type')
        batch_op.drop_column('actor')
