"""The periodic dispatcher: due tasks → run rows → enqueued jobs.

The database is the source of truth. Each active task has ``next_run_at`` and a watermark
(where its last scheduled window ended). A run row is unique on (task, scheduled instant),
so two dispatchers, a retry or a restart can never create an occurrence twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from rq.job import Job
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Run, Task

from . import schedule as sched
from .queue import REPORTS_QUEUE, connection, get_queue

log = logging.getLogger(__name__)
BATCH = 500


def job_id(run_id: int) -> str:
    return f"herald-run-{run_id}"


def plan(task: Task, now: datetime) -> tuple[Run, datetime]:
    """The run for a due task and its next instant. Missed occurrences (downtime) become one
    catch-up run whose window starts at the watermark."""
    schedule, series = task.schedule, task.series_start
    last = task.next_run_at
    missed = 1
    while True:
        following = sched.next_after(schedule, last, series)
        if following > now:
            break
        last, missed = following, missed + 1
    start = task.watermark or sched.previous_before(schedule, task.next_run_at, series)
    run = Run(company_id=task.company_id, task_id=task.id,
              trigger="catch_up" if missed > 1 else "scheduled",
              scheduled_for=last, window_start=start, window_end=last, status="queued")
    return run, following


def dispatch(now: datetime, conn=None) -> list[int]:
    """Turn every task due at ``now`` into a run row and enqueue it; return the run ids."""
    created: list[int] = []
    while True:
        due = db.session.scalars(
            sa.select(Task).where(Task.active.is_(True), Task.next_run_at <= now)
            .order_by(Task.next_run_at).limit(BATCH).with_for_update(skip_locked=True)
        ).all()
        if not due:
            break
        for task in due:
            run, following = plan(task, now)
            try:
                with db.session.begin_nested():
                    db.session.add(run)
            except IntegrityError:  # another dispatcher made this occurrence already
                log.info("run of task %s at %s exists already", task.id, run.scheduled_for)
            else:
                created.append(run.id)
            task.watermark, task.next_run_at = run.window_end, following
        db.session.commit()
    for run_id in created:
        enqueue(run_id, conn)
    return created


def enqueue(run_id: int, conn=None) -> None:
    from .runner import run_report

    get_queue(REPORTS_QUEUE, conn).enqueue(run_report, run_id, job_id=job_id(run_id),
                                           job_timeout=3600, result_ttl=3600)


def requeue_lost(now: datetime, conn=None, grace: timedelta = timedelta(seconds=30)) -> list[int]:
    """Queued runs whose job is missing from Redis (flushed, restarted) are enqueued again."""
    conn = conn or connection()
    lost = []
    for run_id in db.session.scalars(sa.select(Run.id).where(
            Run.status == "queued", Run.created_at <= now - grace)):
        if not Job.exists(job_id(run_id), connection=conn):
            enqueue(run_id, conn)
            lost.append(run_id)
    return lost


def retry_deliveries(now: datetime, conn=None) -> list[int]:
    """Deliveries whose worker died are marked failed; those due for a retry are enqueued."""
    from .delivery import attempts

    attempts.recover_stale(now)
    retried = attempts.enqueue_due(now, conn)
    if retried:
        log.info("enqueued %d delivery retr%s", len(retried), "y" if len(retried) == 1 else "ies")
    return retried


def run_tick() -> None:
    """The periodic job registered with rq-scheduler; runs inside the worker's app context."""
    now = datetime.now(UTC)
    conn = connection()
    created = dispatch(now, conn)
    requeued = requeue_lost(now, conn)
    retry_deliveries(now, conn)
    if created or requeued:
        log.info("dispatched %d run(s), re-enqueued %d", len(created), len(requeued))
