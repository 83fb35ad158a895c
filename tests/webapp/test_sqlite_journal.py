"""A SQLite database file is kept in WAL mode (webapp/extensions.py): a commit is one write
to the log, and the portal's reads never wait for a worker's write."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from webapp.extensions import db


def test_a_sqlite_file_is_in_wal_mode_with_foreign_keys(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_an_in_memory_sqlite_database_still_opens():
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "memory"
    engine.dispose()
