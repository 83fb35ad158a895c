"""SQLite enforces foreign keys like PostgreSQL (webapp/extensions.py): deleting a task
deletes its runs and their deliveries there too, and the upgrade cleans up the rows that
deletes left behind before."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from jobs import dispatch as dispatcher
from tests.roles.test_upgrade import flask_db
from webapp.extensions import db
from webapp.models import AuditEvent, Delivery, Run
from webapp.services import tasks as task_service

BEFORE = "68143539445e"  # the last revision before SQLite enforced foreign keys


def test_deleting_a_task_deletes_its_runs_and_their_page_answers_404(
        app, make_company, redis_conn, work, client, auth):
    company = make_company("Acme Bank")
    data = task_service.validate(company, {
        "name": "Rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:00", "timezone": "UTC"},
        "recipients": {"emails": ["ops@acme.example"]}})
    task = task_service.save(company, data, datetime.now(UTC) - timedelta(days=3))
    db.session.commit()
    [run_id] = dispatcher.dispatch(datetime.now(UTC), redis_conn)
    work()
    assert db.session.scalar(sa.select(sa.func.count(Delivery.id))) == 1
    task_service.delete(task)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Run.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Delivery.id))) == 0
    auth.login("admin@acme-bank.example")
    assert client.get(f"/runs/{run_id}").status_code == 404


def test_the_upgrade_applies_the_delete_rules_sqlite_ignored(tmp_path):
    path = tmp_path / "old.db"
    flask_db(f"sqlite:///{path}", "upgrade", BEFORE)
    with sqlite3.connect(path) as conn:  # foreign keys off: as Herald ran on SQLite before
        now = "2026-11-01 06:00:00.000000"
        conn.execute("INSERT INTO companies VALUES (1, 'Acme', 'acme', 'UTC', ?)", (now,))
        for task_id in (1, 2):
            conn.execute(
                "INSERT INTO tasks (id, company_id, name, report_type, channels, schedule_kind,"
                " schedule_time, timezone, options, active, status, created_at, updated_at)"
                " VALUES (?, 1, 't', 'usage_by_rooms', '[]', 'daily', '06:00', 'UTC', '{}',"
                " 1, 'scheduled', ?, ?)", (task_id, now, now))
        for run_id, task_id, retry_of in ((1, 1, None), (2, 2, 1)):
            conn.execute(
                "INSERT INTO runs (id, company_id, task_id, \"trigger\", window_start,"
                " window_end, status, created_at, retry_of_id) VALUES (?, 1, ?, 'manual', ?,"
                " ?, 'succeeded', ?, ?)", (run_id, task_id, now, now, now, retry_of))
            conn.execute(
                "INSERT INTO deliveries (company_id, run_id, kind, target, status, attempts)"
                " VALUES (1, ?, 'email', 'ops@acme.example', 'sent', 1)", (run_id,))
        conn.execute("INSERT INTO audit_events (company_id, run_id, action, result, at)"
                     " VALUES (1, 1, 'download', 'allowed', ?)", (now,))
        conn.execute("DELETE FROM tasks WHERE id = 1")  # its run and delivery stayed
    flask_db(f"sqlite:///{path}", "upgrade")
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.execute(sa.select(Run.id, Run.retry_of_id)).all() == [(2, None)]
        assert conn.execute(sa.select(Delivery.run_id)).scalars().all() == [2]
        assert conn.execute(sa.select(AuditEvent.run_id, AuditEvent.action)).all() == [
            (None, "run.download")]
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


@pytest.fixture(autouse=True)
def _sqlite_only(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has always enforced foreign keys")
