"""Runs prepared ahead of their instant: tasks.following_run_at (issue 3); on SQLite, the
rows that deletes left behind before foreign keys were enforced there

Revision ID: b5d0c2e7a914
Revises: 68143539445e
Create Date: 2026-11-27 10:20:00.000000

"""
import logging

from alembic import op
import sqlalchemy as sa

log = logging.getLogger("alembic.runtime.migration")


# revision identifiers, used by Alembic.
revision = 'b5d0c2e7a914'
down_revision = '68143539445e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('following_run_at', sa.DateTime(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        _apply_delete_rules(op.get_bind())


def _apply_delete_rules(bind):
    """SQLite did not enforce foreign keys until now (webapp/extensions.py): a deleted task
    left its runs, their deliveries and its recipients behind, a deleted role its
    assignments. Do now what ON DELETE would have done: delete (CASCADE) or clear (SET NULL)
    the rows whose parent is gone, repeatedly, since a deleted run orphans its deliveries.
    A row under a rule that says neither is reported and kept."""
    kept = set()
    while True:
        acted = False
        for table, rowid, parent, fk_id in bind.exec_driver_sql("PRAGMA foreign_key_check"):
            rules = {row[0]: row for row in
                     bind.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")')}
            _, _, _, column, _, _, on_delete, _ = rules[fk_id]
            if on_delete == "CASCADE":
                bind.exec_driver_sql(f'DELETE FROM "{table}" WHERE rowid = ?', (rowid,))
            elif on_delete == "SET NULL":
                bind.exec_driver_sql(f'UPDATE "{table}" SET "{column}" = NULL WHERE rowid = ?',
                                     (rowid,))
            else:
                if (table, rowid) not in kept:
                    log.warning("%s row %s refers to a missing %s row; kept", table, rowid,
                                parent)
                kept.add((table, rowid))
                continue
            acted = True
        if not acted:
            return


def downgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_column('following_run_at')
