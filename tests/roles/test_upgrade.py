"""The upgrade path of docs/product.md §6: `flask db upgrade` on a database made at the initial
revision creates the built-in roles of existing companies and gives the viewer role to the users
who are already recipients of a task. The real CLI runs in a subprocess, on SQLite or (with
TEST_DATABASE_URL) on a PostgreSQL database of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from roles.permissions import ALL, DOWNLOAD_PERMISSIONS, VIEWER_ROLE

ROOT = Path(__file__).resolve().parents[2]
INITIAL = "61c6830b4bc1"


@pytest.fixture
def empty_db(tmp_path):
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'upgrade.db'}"
        return
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    base = sa.engine.make_url(url)
    name = f"{base.database}_upgrade"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def flask_db(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "FLASK_DEBUG": "1"}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", *args],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_upgrade_backfills_builtin_roles_and_viewer_assignments(empty_db):
    flask_db(empty_db, "upgrade", INITIAL)
    engine = sa.create_engine(empty_db)
    with engine.begin() as conn:
        def insert(sql, **values):
            conn.execute(sa.text(sql), values)

        now = "2026-01-01 00:00:00"
        for cid, slug in ((1, "old-bank"), (2, "other")):
            insert("INSERT INTO companies (id, name, slug, timezone, created_at) "
                   "VALUES (:i, :s, :s, 'UTC', :now)", i=cid, s=slug, now=now)
        # Company 1 already had an admin role with an old permission set; no viewer role.
        # (No explicit role ids: on PostgreSQL they would not advance the sequence.)
        insert("INSERT INTO roles (company_id, name, description, builtin, permissions) "
               "VALUES (1, 'company-admin', 'old', :t, '[\"scheduled_reports.view\"]')",
               t=True)
        users = [(1, 1, "admin@old.example", False, True), (2, 1, "rita@old.example", False, True),
                 (3, 1, "desk@old.example", True, True), (4, 1, "gone@old.example", False, False),
                 (5, 1, "bystander@old.example", False, True),
                 (6, 2, "rita@old.example", False, True)]
        for uid, cid, email, group, active in users:
            insert("INSERT INTO users (id, company_id, email, email_key, name, is_group, active, "
                   "created_at) VALUES (:i, :c, :e, :e, '', :g, :a, :now)",
                   i=uid, c=cid, e=email, g=group, a=active, now=now)
        insert("INSERT INTO role_assignments (user_id, role_id, source, created_at) "
               "SELECT 1, id, 'manual', :now FROM roles WHERE company_id = 1", now=now)
        insert("INSERT INTO tasks (id, company_id, name, report_type, channels, schedule_kind, "
               "schedule_time, timezone, options, active, status, created_at, updated_at) "
               "VALUES (1, 1, 'Rooms', 'usage_by_rooms', '[\"sms\"]', 'daily', '06:30', 'UTC', "
               "'{}', :t, 'scheduled', :now, :now)", t=True, now=now)
        for email in ("RITA@old.example", "desk@old.example", "gone@old.example",
                      "nobody@old.example"):
            insert("INSERT INTO task_recipients (task_id, company_id, email, email_key) "
                   "VALUES (1, 1, :e, :k)", e=email, k=email.lower())
    engine.dispose()

    flask_db(empty_db, "upgrade")
    flask_db(empty_db, "upgrade")  # nothing left to do: idempotent

    engine = sa.create_engine(empty_db)
    with engine.connect() as conn:
        roles = {(r.company_id, r.name): r for r in conn.execute(sa.text(
            "SELECT id, company_id, name, builtin, permissions FROM roles"))}
        assert set(roles) == {(1, "company-admin"), (1, VIEWER_ROLE), (2, "company-admin"),
                              (2, VIEWER_ROLE)}

        def perms(r):
            return set(r.permissions if isinstance(r.permissions, list) else
                       __import__("json").loads(r.permissions))

        assert perms(roles[(1, "company-admin")]) == ALL
        assert perms(roles[(1, VIEWER_ROLE)]) == DOWNLOAD_PERMISSIONS
        assert all(r.builtin for r in roles.values())
        held = sorted(conn.execute(sa.text(
            "SELECT a.user_id, r.name, a.source FROM role_assignments a "
            "JOIN roles r ON r.id = a.role_id ORDER BY a.user_id, r.name")).all())
        # Rita (case-insensitive match) gets the viewer role; the group, the inactive user, the
        # bystander and the other company's Rita do not; the admin's manual role stays.
        assert [tuple(h) for h in held] == [(1, "company-admin", "manual"),
                                            (2, VIEWER_ROLE, "recipient")]
    engine.dispose()
