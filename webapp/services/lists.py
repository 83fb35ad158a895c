"""The lists of the portal and the API: tasks (search, filters, sorting, pages), a task's run
history and the outbox (filters, keyset pages: newest first, the next page after the last id
shown, so a page costs the same however long the history is). The indexes they use are
checked with EXPLAIN by tests/webapp/test_list_indexes.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import OutboxMessage, Run, Task, TaskRecipient
from ..schemas.lists import (
    OutboxQuerySchema,
    RunListQuerySchema,
    TaskListPortalQuerySchema,
    TaskListQuerySchema,
)
from .errors import InputError, load

# Each query's schema, built once (building one, a deep copy of its fields, costs more than
# loading a query with it; a schema keeps nothing of a load).
TASK_QUERY = {True: TaskListPortalQuerySchema(), False: TaskListQuerySchema()}
RUN_QUERY = RunListQuerySchema()
OUTBOX_QUERY = OutboxQuerySchema()
SORT_COLUMNS = {"name": Task.name, "type": Task.report_type, "next_run": Task.next_run_at,
                "status": Task.status, "created": Task.created_at}


@dataclass
class Page:
    items: list
    next_cursor: int | None = None
    total: int | None = None  # the task list counts its matches


def parse(schema, args) -> dict:
    """The query's values; InputError with a message per bad argument."""
    values, errors = load(schema, dict(args.items()))
    if errors:
        raise InputError(errors)
    return values


def task_query(portal: bool, args) -> dict:
    return parse(TASK_QUERY[portal], args)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _task_filters(company_id: int, query: dict):
    select = sa.select(Task).where(Task.company_id == company_id)
    if query.get("q"):
        select = select.where(Task.name.ilike(_like(query["q"]), escape="\\"))
    for key in ("report_type", "status"):
        if query.get(key):
            select = select.where(getattr(Task, key) == query[key])
    if query.get("active") is not None:
        select = select.where(Task.active.is_(query["active"]))
    return select


def tasks(company_id: int, query: dict) -> Page:
    """The API's page: by id, after the cursor, with the recipients (one query for all)."""
    select = _task_filters(company_id, query)
    if query.get("cursor"):
        select = select.where(Task.id > query["cursor"])
    rows = db.session.scalars(select.order_by(Task.id).limit(query["limit"] + 1)).all()
    page = keyset(rows, query["limit"])
    with_recipient_emails(page.items)
    with_last_runs(page.items)
    return page


def with_recipient_emails(rows: list[Task]) -> None:
    """Each task's recipients' addresses, all in one query of two columns (a list shows the
    addresses: loading each recipient as a record cost more than dumping it)."""
    emails: dict[int, list[str]] = {task.id: [] for task in rows}
    if emails:
        for task_id, email in db.session.execute(sa.select(
                TaskRecipient.task_id, TaskRecipient.email).where(
                TaskRecipient.task_id.in_(list(emails))).order_by(TaskRecipient.id)):
            emails[task_id].append(email)
    for task in rows:
        task.recipient_emails = emails[task.id]


def tasks_by_page(company_id: int, query: dict) -> Page:
    """The portal's page: sorted by a column (then id), by page number."""
    select = _task_filters(company_id, query)
    total = db.session.scalar(select.with_only_columns(sa.func.count(Task.id)))
    sort = query.get("sort") or "name"
    column = SORT_COLUMNS[sort.lstrip("-")]
    order = [column.desc(), Task.id.desc()] if sort.startswith("-") else [column, Task.id]
    limit = query["limit"]
    rows = db.session.scalars(select.order_by(*order).offset((query["page"] - 1) * limit)
                              .limit(limit)).all()
    with_last_runs(rows, brief=True)
    return Page(rows, total=total)


def with_last_runs(rows: list[Task], brief: bool = False) -> None:
    """Each task's last run, in one query: a max per task through (task_id, id), one index
    probe each (a GROUP BY over the company's runs would read its whole history).
    ``brief``: a row of its id and status (what the task list shows), not a Run record
    (whose every other column, unloaded, would still be set up, row by row)."""
    if not rows:
        return
    ids = sa.select(_latest_run_id()).where(Task.id.in_([t.id for t in rows]))
    found = db.session.execute(sa.select(Run.id, Run.task_id, Run.status).where(
        Run.id.in_(ids))) if brief else db.session.scalars(sa.select(Run).where(Run.id.in_(ids)))
    runs = {run.task_id: run for run in found}  # one query: each task's max, then its row
    for task in rows:
        task.last_run = run = runs.get(task.id)
        if run is not None and not brief:
            _of_task(run, task)


@cache
def _latest_run_id() -> sa.ScalarSelect:
    """A task's last run id, a Send test aside: built once (an alias of runs is some 20
    column copies)."""
    later = aliased(Run)
    return sa.select(sa.func.max(later.id)).where(
        later.task_id == Task.id, later.trigger != "test").correlate(Task).scalar_subquery()


def runs(task: Task, args, deliveries: bool = False) -> Page:
    """A page of the task's runs, newest first; ``deliveries`` loads theirs (one query)."""
    query = parse(RUN_QUERY, args)
    select = sa.select(Run).where(Run.task_id == task.id, Run.company_id == task.company_id)
    if deliveries:
        select = select.options(selectinload(Run.deliveries))
    for key in ("status", "trigger"):
        if query.get(key):
            select = select.where(getattr(Run, key) == query[key])
    if query.get("cursor"):
        select = select.where(Run.id < query["cursor"])
    rows = db.session.scalars(select.order_by(Run.id.desc()).limit(query["limit"] + 1)).all()
    for run in rows:
        _of_task(run, task)
    return keyset(rows, query["limit"])


def _of_task(run: Run, task: Task) -> None:
    """``run.task`` set to the task at hand, as loaded (every time of a run is shown in its
    task's zone: else each run of a page looks its task up in the session)."""
    set_committed_value(run, "task", task)


def outbox_query(args) -> dict:
    return parse(OUTBOX_QUERY, args)


def outbox(company_id: int, query: dict) -> Page:
    select = sa.select(OutboxMessage).where(OutboxMessage.company_id == company_id)
    if query.get("to"):
        select = select.where(sa.func.lower(OutboxMessage.to_addr) == query["to"].lower())
    if query.get("q"):
        select = select.where(OutboxMessage.subject.ilike(_like(query["q"]), escape="\\"))
    if query.get("cursor"):
        select = select.where(OutboxMessage.id < query["cursor"])
    rows = db.session.scalars(select.order_by(OutboxMessage.id.desc())
                              .limit(query["limit"] + 1)).all()
    return keyset(rows, query["limit"])


def every_page(fetch, query: dict, size: int = 500) -> Iterator[list]:
    """Every page of a keyset list from the first (a CSV export), ``size`` rows at a time."""
    query = {**query, "cursor": None, "limit": size}
    while True:
        page = fetch(query)
        yield page.items
        if page.next_cursor is None:
            return
        query["cursor"] = page.next_cursor


def keyset(rows: list, limit: int) -> Page:
    """A page of at most ``limit`` of ``rows`` (fetched one over), the last id its cursor."""
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].id if more else None)
