"""Planning and settling scheduled runs: due tasks → run rows → held jobs; catch-up (as each
task's policy says, jobs/series.py) and end dates.

The database is the source of truth. Each active task has ``next_run_at`` and a watermark
(where its last scheduled window ended). A run row is unique on (task, scheduled instant),
so two dispatchers, a retry or a restart can never create an occurrence twice; a run is
started only by the job that moves it from queued to running (jobs.runner.claim), so a job
enqueued twice runs once.

A scheduled run is **prepared** ``DISPATCH_AHEAD`` seconds before its instant: its row is
inserted, its RQ job is made and held until the instant (jobs/held.py), and the task records
the instant after it (``prepared_following_at``: non-null means the run for ``next_run_at``
exists). At the instant the held job is released onto the queue, and **settle** advances
those tasks (watermark → the instant, next_run_at → the following one) in one statement; a
task whose following instant is past its end date is deactivated by the same statement.
Until its instant a prepared run can still be cancelled: editing the schedule or
deactivating the task deletes it (webapp/services/tasks.py).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Run, Task

from . import schedule as sched
from .held import hold, release_held
from .queue import connection
from .series import Due, planned_release
from .series import plan as series_plan

log = logging.getLogger(__name__)
BATCH = 500


def plan(task: Task, now: datetime, cap: int = 24) -> tuple[list[Run], datetime]:
    """The runs for a task's next instant, and the instant after them. Missed occurrences
    (downtime) become catch-up runs as the task's policy says (jobs/series.py), the first
    starting at the watermark; none goes past the task's end."""
    schedule, series = sched.of(task), task.series_start
    start = task.watermark or sched.previous_before(schedule, task.next_run_at, series)
    made = series_plan(Due(schedule, series, start, task.next_run_at,
                           task.catch_up or "combine", cap, task.ends_at), now)
    runs = [Run(company_id=task.company_id, task_id=task.id,
                trigger="catch_up" if made.catching_up else "scheduled",
                scheduled_for=w.end, window_start=w.start, window_end=w.end, status="queued")
            for w in made.windows]
    return runs, made.following


def dispatch(now: datetime, conn=None, ahead: timedelta | None = None) -> list[int]:
    """Release the runs due at ``now``, prepare those due by ``now + ahead`` (default
    ``DISPATCH_AHEAD``), and settle the tasks whose run was released; return the ids of the
    runs released (enqueued) by this call.

    Preparing is done in batches, each committed, held and followed by a release, so a run
    already due (a catch-up, a task just created) never waits for the rest. Tasks are
    settled before each batch: a task whose run was just released may be due again.
    """
    conn = conn or connection()
    if ahead is None:
        ahead = timedelta(seconds=current_app.config["DISPATCH_AHEAD"])
    released = release_held(now, conn)
    while True:
        settle(now)  # the tasks released move on to their following instant…
        db.session.commit()
        if not prepare(now, ahead, conn):  # …which is prepared here if it is close
            return released
        released += release_held(now, conn)


def prepare(now: datetime, ahead: timedelta, conn) -> int:
    """Prepare one batch of tasks due by ``now + ahead`` that have no prepared run: insert
    their runs, record each task's following instant, commit, hold the jobs. Returns the
    number of tasks taken (0: nothing left). Rows locked by another dispatcher are skipped."""
    due = db.session.scalars(
        sa.select(Task).where(Task.active.is_(True), Task.prepared_following_at.is_(None),
                              Task.next_run_at <= now + ahead)
        .order_by(Task.next_run_at).limit(BATCH).with_for_update(skip_locked=True)
    ).all()
    if not due:
        return 0
    cap = current_app.config["CATCH_UP_MAX"]
    planned = [(task, *plan(task, now, cap)) for task in due]
    inserted = _insert([run for _, runs, _ in planned for run in runs])
    db.session.execute(sa.update(Task), [
        {"id": task.id, "next_run_at": runs[-1].scheduled_for,
         "prepared_following_at": following}
        for task, runs, following in planned])
    db.session.commit()
    tasks = {task.id: task for task, _, _ in planned}
    hold([(run_id, planned_release(instant, tasks[task_id]), company_id)
          for run_id, instant, task_id, company_id in inserted], conn)
    return len(due)


def settle(now: datetime, task_id: int | None = None) -> int:
    """Advance the tasks whose prepared run's instant has come (all, or one): the watermark
    moves to that instant and next_run_at to the following one. One statement; rows another
    transaction holds are left to the next call (or to that transaction: an edit settles its
    task itself). Returns the number of tasks settled; the caller commits."""
    ready = sa.select(Task.id).where(Task.active.is_(True), Task.next_run_at <= now,
                                     Task.prepared_following_at.is_not(None))
    if task_id is not None:
        ready = ready.where(Task.id == task_id)
    if not db.session.scalar(sa.select(ready.exists())):
        return 0  # no write: on SQLite even an empty UPDATE takes the database's write lock
    if task_id is None:
        ready = ready.with_for_update(skip_locked=True)
    ended = sa.and_(Task.ends_at.is_not(None), Task.prepared_following_at > Task.ends_at)
    return db.session.execute(
        sa.update(Task).where(Task.id.in_(ready.scalar_subquery()))
        .values(watermark=Task.next_run_at, prepared_following_at=None,
                # past its end date: the run just released was its last; it deactivates
                next_run_at=sa.case((ended, None), else_=Task.prepared_following_at),
                active=sa.case((ended, False), else_=True),
                status=sa.case((sa.and_(ended, Task.status != "running"), "inactive"),
                               else_=Task.status))
        .execution_options(synchronize_session=False)).rowcount


def cancel_prepared(task: Task) -> bool:
    """Delete the task's prepared run (its instant has not come): the task is being
    deactivated or its schedule changed. Its held job finds no run and does nothing. The
    caller settles the task first and commits."""
    if task.prepared_following_at is None:
        return False
    db.session.execute(
        sa.delete(Run).where(Run.task_id == task.id, Run.scheduled_for == task.next_run_at,
                             Run.status == "queued")
        .execution_options(synchronize_session=False))
    task.prepared_following_at = None
    return True


_RUN_COLUMNS = ("company_id", "task_id", "trigger", "scheduled_for", "window_start",
                "window_end", "status")


def _insert(runs: list[Run]) -> list[tuple[int, datetime, int, int]]:
    """Insert the batch's runs in one statement; one that exists already (another dispatcher
    made that occurrence) is skipped by the unique (task, scheduled instant) constraint.
    Returns (id, instant, task id, company id) of the runs inserted."""
    rows = [{c: getattr(run, c) for c in _RUN_COLUMNS} for run in runs]
    dialect = db.session.get_bind().dialect.name
    upsert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if upsert is None:  # another database: one savepoint per run
        return _insert_one_by_one(rows)
    statement = upsert(Run).on_conflict_do_nothing(
        index_elements=["task_id", "scheduled_for"]).returning(
        Run.id, Run.scheduled_for, Run.task_id, Run.company_id)
    inserted = [tuple(row) for row in db.session.execute(statement, rows)]
    if len(inserted) < len(rows):
        log.info("%d run(s) of this batch existed already", len(rows) - len(inserted))
    return sorted(inserted)


def _insert_one_by_one(rows: list[dict]) -> list[tuple[int, datetime, int, int]]:
    inserted = []
    for row in rows:
        run = Run(**row)
        try:
            with db.session.begin_nested():
                db.session.add(run)
        except IntegrityError:
            log.info("run of task %s at %s exists already", row["task_id"],
                     row["scheduled_for"])
        else:
            inserted.append((run.id, run.scheduled_for, run.task_id, run.company_id))
    return inserted
