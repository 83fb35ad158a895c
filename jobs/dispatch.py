"""The periodic dispatcher: due tasks → run rows → enqueued jobs; catch-up; reaper.

The database is the source of truth. Each active task has ``next_run_at`` and a watermark
(where its last scheduled window ended). A run row is unique on (task, scheduled instant),
so two dispatchers, a retry or a restart can never create an occurrence twice; a run is
started only by the job that moves it from queued to running (jobs.runner.claim), so a job
enqueued twice runs once.
"""

from __future__ import annotations

import logging
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from rq.job import Job, JobStatus
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Delivery, Run, Task
from webapp.models.runs import MAX_ATTEMPTS

from . import schedule as sched
from .queue import REPORTS_QUEUE, connection, get_queue

log = logging.getLogger(__name__)
BATCH = 500
SCHEDULER_POLL = 1  # seconds: jobs.scheduler.MAX_POLL_INTERVAL
REQUEUE_GRACE = timedelta(seconds=5)  # a run just committed is being enqueued by its creator
DEAD_JOB = {JobStatus.FAILED.value, JobStatus.STOPPED.value, JobStatus.CANCELED.value,
            JobStatus.FINISHED.value}


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
    """Turn every task due at ``now`` into a run row and enqueue it; return the run ids.

    Work is done in batches, each committed and then enqueued, so the first tasks of a busy
    minute do not wait for the last. Rows locked by another dispatcher are skipped.
    """
    created: list[int] = []
    while True:
        due = db.session.scalars(
            sa.select(Task).where(Task.active.is_(True), Task.next_run_at <= now)
            .order_by(Task.next_run_at).limit(BATCH).with_for_update(skip_locked=True)
        ).all()
        if not due:
            break
        planned = [(task, *plan(task, now)) for task in due]
        ids = _insert([run for _, run, _ in planned])
        db.session.execute(sa.update(Task), [
            {"id": task.id, "watermark": run.window_end, "next_run_at": following}
            for task, run, following in planned])
        db.session.commit()
        enqueue_many(ids, conn)
        created.extend(ids)
    return created


_RUN_COLUMNS = ("company_id", "task_id", "trigger", "scheduled_for", "window_start",
                "window_end", "status")


def _insert(runs: list[Run]) -> list[int]:
    """Insert the batch's runs in one statement; one that exists already (another dispatcher
    made that occurrence) is skipped by the unique (task, scheduled instant) constraint.
    Returns the ids of the runs inserted."""
    rows = [{c: getattr(run, c) for c in _RUN_COLUMNS} for run in runs]
    dialect = db.session.get_bind().dialect.name
    upsert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if upsert is None:  # another database: one savepoint per run
        return _insert_one_by_one(rows)
    statement = upsert(Run).on_conflict_do_nothing(
        index_elements=["task_id", "scheduled_for"]).returning(Run.id)
    ids = list(db.session.scalars(statement, rows))
    if len(ids) < len(rows):
        log.info("%d run(s) of this batch existed already", len(rows) - len(ids))
    return sorted(ids)


def _insert_one_by_one(rows: list[dict]) -> list[int]:
    ids = []
    for row in rows:
        run = Run(**row)
        try:
            with db.session.begin_nested():
                db.session.add(run)
        except IntegrityError:
            log.info("run of task %s at %s exists already", row["task_id"],
                     row["scheduled_for"])
        else:
            ids.append(run.id)
    return ids


def enqueue(run_id: int, conn=None) -> None:
    enqueue_many([run_id], conn)


def enqueue_many(run_ids: list[int], conn=None) -> None:
    if not run_ids:
        return
    from .runner import run_report

    queue = get_queue(REPORTS_QUEUE, conn)
    with queue.connection.pipeline() as pipe:
        queue.enqueue_many([
            queue.prepare_data(run_report, args=(run_id,), job_id=job_id(run_id), timeout=3600,
                               result_ttl=3600) for run_id in run_ids], pipeline=pipe)
        pipe.execute()


def requeue_lost(now: datetime, conn=None, grace: timedelta = REQUEUE_GRACE) -> list[int]:
    """Queued runs whose job is gone from Redis (flushed, restarted) or ended without
    starting the run (its worker died first) are enqueued again."""
    conn = conn or connection()
    queued = list(db.session.scalars(sa.select(Run.id).where(
        Run.status == "queued", Run.created_at <= now - grace).order_by(Run.id)))
    if not queued:
        return []
    with conn.pipeline(transaction=False) as pipe:
        for run_id in queued:
            pipe.hget(Job.key_for(job_id(run_id)), "status")
        statuses = pipe.execute()
    lost = []
    for run_id, status in zip(queued, statuses, strict=True):
        if status is None or status.decode() in DEAD_JOB:
            if status is not None:
                Job.fetch(job_id(run_id), connection=conn).delete()
            lost.append(run_id)
    enqueue_many(lost, conn)
    return lost


def reap(now: datetime, timeout: timedelta, conn=None) -> list[int]:
    """Runs whose heartbeat stopped more than ``timeout`` ago (worker killed, machine lost)
    are marked failed with the reason, their task is released, and each is retried once as
    a new run with the same window. Returns the ids of the retries."""
    from .runner import release

    cutoff = now - timeout
    last_sign = sa.func.coalesce(Run.heartbeat_at, Run.started_at, Run.created_at)
    stale = list(db.session.scalars(sa.select(Run.id).where(
        Run.status == "running", last_sign < cutoff)))
    retries: list[int] = []
    for run_id in stale:
        run = db.session.get(Run, run_id)
        last_beat = run.heartbeat_at or run.started_at or run.created_at
        error = (f"The worker running this report stopped responding: no heartbeat since "
                 f"{last_beat:%Y-%m-%d %H:%M:%S} UTC (more than {timeout.total_seconds():g} s)."
                 " It was killed or its machine was lost.")
        retry = run.attempt < MAX_ATTEMPTS
        error += (" Retried once with the same window." if retry else
                  f" Not retried again: this was attempt {run.attempt} of {MAX_ATTEMPTS}.")
        failed = db.session.execute(
            sa.update(Run).where(Run.id == run_id, Run.status == "running", last_sign < cutoff)
            .values(status="failed", finished_at=now, error=error)
            .execution_options(synchronize_session=False)).rowcount == 1
        if not failed:  # finished or beat meanwhile, or another reaper took it
            db.session.rollback()
            continue
        db.session.refresh(run)
        release(run.task, run)
        if retry:
            again = Run(company_id=run.company_id, task_id=run.task_id, trigger=run.trigger,
                        window_start=run.window_start, window_end=run.window_end,
                        status="queued", attempt=run.attempt + 1, retry_of_id=run.id)
            # An occurrence is delivered once: what the dead run sent stays sent.
            again.deliveries = [
                Delivery(company_id=d.company_id, kind=d.kind, target=d.target, status="sent",
                         attempts=d.attempts, delivered_at=d.delivered_at,
                         message_id=d.message_id)
                for d in run.deliveries if d.status == "sent"]
            db.session.add(again)
            db.session.flush()
            # The others are the retry's to deliver: closed here, so that nothing else
            # (a delivery recovery) sends them a second time from this run.
            for delivery in run.deliveries:
                if delivery.status != "sent":
                    delivery.status = "failed"
                    delivery.error = (f"Not delivered by this run: its worker stopped; run "
                                      f"#{again.id}, its retry, delivers it.")
        db.session.commit()
        log.warning("run %s of task %s: %s", run.id, run.task_id, error)
        if retry:
            retries.append(again.id)
    enqueue_many(retries, conn)
    return retries


def next_due(now: datetime) -> datetime | None:
    return db.session.scalar(sa.select(sa.func.min(Task.next_run_at)).where(
        Task.active.is_(True), Task.next_run_at > now))


def retry_deliveries(now: datetime, conn=None) -> list[int]:
    """Deliveries whose worker died are marked failed; those due for a retry are enqueued."""
    from .delivery import attempts

    attempts.recover_stale(now)
    retried = attempts.enqueue_due(now, conn)
    if retried:
        log.info("enqueued %d delivery retr%s", len(retried), "y" if len(retried) == 1 else "ies")
    return retried


def run_tick(now: Callable[[], datetime] | None = None,
             sleep: Callable[[float], None] = clock.sleep) -> None:
    """The periodic job registered with rq-scheduler; runs inside the worker's app context.

    It dispatches what is due, reaps dead runs and re-enqueues lost jobs, then stays for the
    rest of its interval to dispatch each task at its instant (the scheduler starts a tick
    only every interval or so: waiting for the next one would add up to that to the lag).
    """
    now = now or (lambda: datetime.now(UTC))
    config = current_app.config
    conn = connection()
    started = now()
    created = dispatch(started, conn)
    retried = reap(started, timedelta(seconds=config["RUN_HEARTBEAT_TIMEOUT"]), conn)
    requeued = requeue_lost(started, conn)
    retry_deliveries(started, conn)
    # Until the next tick can have started: its interval plus the scheduler's poll, so that
    # consecutive ticks leave no gap (an overlap is harmless: runs are made once).
    horizon = started + timedelta(seconds=config["DISPATCH_INTERVAL"] + SCHEDULER_POLL)
    while (upcoming := next_due(now())) is not None and upcoming <= horizon:
        db.session.commit()  # end the read transaction before waiting
        sleep(max(0.0, (upcoming - now()).total_seconds()))
        created += dispatch(now(), conn)
    db.session.commit()
    if created or retried or requeued:
        log.info("dispatched %d run(s), retried %d dead run(s), re-enqueued %d lost job(s)",
                 len(created), len(retried), len(requeued))
