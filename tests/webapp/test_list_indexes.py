"""The lists' queries read an index range, never a whole table: each statement the list
services send is explained (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN with sequential
scans priced out, so that a plan without a usable index still shows one)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from webapp.extensions import db
from webapp.models import AuditEvent, Message, OutboxMessage, Run, Task
from webapp.services import audit, ingest_apply, lists


@pytest.fixture
def data(make_company):
    company = make_company()
    now = datetime.now(UTC)
    tasks = [Task(company_id=company.id, name=f"Task {n}", report_type="usage_by_rooms",
                  channels=["whatsapp"], schedule_kind="daily", schedule_time="06:30",
                  timezone="UTC", options={}, active=True, status="scheduled")
             for n in range(3)]
    db.session.add_all(tasks)
    db.session.flush()
    db.session.add_all(Run(company_id=company.id, task_id=tasks[n % 3].id, window_start=now,
                           window_end=now, status="succeeded", trigger="manual")
                       for n in range(30))
    db.session.add_all(AuditEvent(company_id=company.id, action=action, actor=actor)
                       for _ in range(10) for action, actor in (
                           ("task.update", "system"), ("login.success", "ops@b.example"),
                           ("run.download", "Ops@B.example")))
    db.session.add_all(OutboxMessage(company_id=company.id, to_addr="a@b.example",
                                     from_addr="h@b.example", subject="s", text_body="t",
                                     html_body="h", message_id=f"<{n}@h>") for n in range(30))
    db.session.commit()
    return company, tasks[0]


def statements(call) -> list[tuple[str, object]]:
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert seen
    return seen


def plan(statement: str, parameters) -> str:
    conn = db.session.connection()
    if db.engine.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        return "\n".join(r[-1] for r in rows)
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
    return "\n".join(r[0] for r in rows)


def full_scans(text: str, statement: str = "") -> list[str]:
    """The lines of a plan that read a whole table (or sort a whole range, for SQLite). The
    rows of one page's ids loaded together (``WHERE task_id IN (?, ?…)``) are few, whatever
    the history: sorting them is no scan; nor is sorting one period's audit events."""
    if db.engine.dialect.name == "sqlite":
        one_page = re.search(r"\bIN \(\?(, \?)*\)", statement) is not None
        return [line for line in text.splitlines()
                if re.match(r"\s*SCAN (\w+)\s*$", line)
                and line.split()[-1] in db.metadata.tables  # not a subquery's few rows
                or ("TEMP B-TREE FOR ORDER BY" in line and not one_page
                    and not in_a_period(text))]
    return [line for line in text.splitlines() if "Seq Scan" in line]


def in_a_period(plan_text: str) -> bool:
    """The audit log between times (since, until) reads that range of (company_id, at) and
    sorts it by id: what it reads is the period's events, not the company's history."""
    return "ix_audit_events_company_at (company_id=? AND at" in plan_text


def lists_of(company, task):
    first_cursor = db.session.scalar(sa.select(sa.func.max(Run.id))) + 1
    cursor = MultiDict({"cursor": str(first_cursor)})
    return {
        "API tasks": lambda: lists.tasks(company.id, lists.task_query(False, MultiDict())),
        "API tasks after a cursor": lambda: lists.tasks(
            company.id, lists.task_query(False, MultiDict({"cursor": str(task.id)}))),
        "portal tasks by name": lambda: lists.tasks_by_page(
            company.id, lists.task_query(True, MultiDict())),
        "run history": lambda: lists.runs(task, MultiDict()),
        "run history after a cursor": lambda: lists.runs(task, cursor),
        "run history of a status": lambda: lists.runs(task, MultiDict({"status": "failed"})),
        "outbox": lambda: lists.outbox(company.id, lists.outbox_query(MultiDict())),
        "outbox after a cursor": lambda: lists.outbox(company.id, lists.outbox_query(cursor)),
        **audit_lists(company),
    }


AUDIT_FILTERS = {  # every filter of the audit page and API, alone and together
    "": {}, "by action": {"action": "task.update"}, "by family": {"action": "task"},
    "by actor": {"actor": "Ops@B.example"},
    "by action and actor": {"action": "task.update", "actor": "system"},
    "by family and actor": {"action": "task", "actor": "system"},
    "since": {"since": "2026-01-01T00:00:00+00:00"},
    "until": {"until": "2026-01-01T00:00:00+00:00"},
    "in a period": {"since": "2025-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    "by action in a period": {"action": "task.update", "since": "2025-01-01T00:00:00Z",
                              "until": "2026-01-01T00:00:00Z"},
    "by actor since": {"actor": "system", "since": "2025-01-01T00:00:00Z"},
}


# The index each audit filter reads, as SQLite plans it (PostgreSQL's planner chooses by
# its statistics: on a few rows any index will do, so only the absence of scans is checked).
AUDIT_INDEXES = {
    "by action": "ix_audit_events_company_action_id",
    "by family": "ix_audit_events_company_action_id",
    "by actor": "ix_audit_events_company_actor_id",
    "by action and actor": "ix_audit_events_company_actor_action_id",
    "by family and actor": "ix_audit_events_company_actor_action_id",
}


def test_each_audit_filter_reads_its_own_index(data):
    company, _ = data
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's choice depends on its statistics")
    for name, call in audit_lists(company).items():
        index = AUDIT_INDEXES.get(name.removeprefix("audit ").removesuffix(" after a cursor"))
        if index:
            plans = "\n".join(plan(*found) for found in statements(call))
            assert f"INDEX {index} " in plans, f"{name}:\n{plans}"
    db.session.rollback()


def audit_lists(company) -> dict:
    """The audit list with each filter combination, on its first page and after a cursor."""
    found = {}
    for name, args in AUDIT_FILTERS.items():
        for cursor in ({}, {"cursor": str(10**6)}):
            filters = audit.parse_filters(MultiDict({**args, **cursor}))
            found[" ".join(filter(None, ("audit", name, "after a cursor" if cursor else "")))] \
                = lambda filters=filters: audit.page(company.id, filters)
    return found


def test_list_queries_read_an_index_not_the_table(data):
    company, task = data
    found = {}
    for name, call in lists_of(company, task).items():
        for statement, parameters in statements(call):
            text = plan(statement, parameters)
            if os.environ.get("SHOW_PLANS"):
                print(name, statement, text, sep="\n")
            if full_scans(text, statement):
                found[name] = f"{statement}\n{text}"
    db.session.rollback()
    assert not found, "\n\n".join(f"{k}:\n{v}" for k, v in found.items())


def test_the_ingest_id_look_up_reads_the_unique_index(data):
    """An ingestion looks up a batch's ids (thousands) in one statement: through the
    (company_id, external_id) index, whatever the table holds."""
    company_id = data[0].id
    wanted = {f"m{n}" for n in range(2000)}
    looked_up = statements(lambda: ingest_apply.resolve(company_id, Message, wanted))
    assert len(looked_up) == 1, looked_up
    for statement, parameters in looked_up:
        text = plan(statement, parameters)
        assert not full_scans(text, statement), f"{statement}\n{text}"
        assert "external_id" in text, text  # the unique index, not the company's range
    db.session.rollback()
