"""The history bench/portal.py reads: runs and audit events bulk-inserted straight into the
tables (the database's own bulk path: ``COPY`` on PostgreSQL, one ``executemany`` in a single
transaction on SQLite), so that a million events load in seconds, not hours."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

START = datetime(2024, 1, 1, tzinfo=UTC)
STATUSES = ("succeeded",) * 8 + ("partial", "failed")
ACTIONS = ("run.download", "task.update", "login.success", "task.run_now", "role.assign")

RUN_COLUMNS = ("company_id", "task_id", "trigger", "scheduled_for", "window_start",
               "window_end", "status", "created_at", "started_at", "finished_at", "row_count",
               "file_name", "size_bytes", "summary", "attempt")
AUDIT_COLUMNS = ("company_id", "user_id", "actor", "run_id", "action", "result", "target_type",
                 "target_id", "target_name", "details", "remote_addr", "at")


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def runs(company_id: int, task_ids: list[int], first: int, count: int):
    """``count`` runs after the ``first`` ones, spread evenly over the tasks (an hourly run
    each: run n of a task is hour n)."""
    rng = random.Random(first)
    for n in range(first, first + count):
        task_id = task_ids[n % len(task_ids)]
        at = START + timedelta(hours=n // len(task_ids))
        status = rng.choice(STATUSES)
        yield (company_id, task_id, "scheduled", _naive(at), _naive(at - timedelta(hours=1)),
               _naive(at), status, _naive(at), _naive(at), _naive(at + timedelta(seconds=3)),
               rng.randrange(10_000), f"report-{n}.csv", rng.randrange(10**6),
               "1 234 rows", 1)


def events(company_id: int, user_id: int, actor: str, first: int, count: int):
    rng = random.Random(first)
    for n in range(first, first + count):
        at = START + timedelta(seconds=30 * n)
        action = ACTIONS[n % len(ACTIONS)]
        details = json.dumps({"changed": {"name": {"from": f"a{n}", "to": f"b{n}"}}}) \
            if action == "task.update" else None
        by_system = n % 10 == 9  # a tenth by the system (the audit log's actor filter)
        yield (company_id, None if by_system else user_id, "system" if by_system else actor,
               None, action, "ok", "task", rng.randrange(1, 100),
               f"Task {n % 100}", details, "127.0.0.1", _naive(at))


def insert(url: str, table: str, columns: tuple[str, ...], rows) -> None:
    engine = sa.create_engine(url)
    try:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            if engine.dialect.name == "postgresql":
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(columns))
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                                   (tuple(_sqlite(v) for v in row) for row in rows))
            raw.commit()
        finally:
            raw.close()
        with engine.begin() as conn:  # the planner's statistics, as a database in use has them
            conn.exec_driver_sql(f"ANALYZE {table}")
    finally:
        engine.dispose()


def _sqlite(value):
    # SQLAlchemy's SQLite DateTime storage format.
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


def ids(url: str, slug: str, admin: str) -> tuple[int, int, list[int]]:
    """The company's id, its admin's id and its tasks' ids."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            company = conn.scalar(sa.text("SELECT id FROM companies WHERE slug = :s"), {"s": slug})
            user = conn.scalar(sa.text("SELECT id FROM users WHERE company_id = :c AND "
                                       "email_key = :e"), {"c": company, "e": admin})
            tasks = list(conn.scalars(sa.text("SELECT id FROM tasks WHERE company_id = :c "
                                              "ORDER BY id"), {"c": company}))
    finally:
        engine.dispose()
    return company, user, tasks
