"""The periodic dispatcher: due tasks → run rows → jobs released at their instant; catch-up;
reaper.

The database is the source of truth. Each active task has ``next_run_at`` and a watermark
(where its last scheduled window ended). A run row is unique on (task, scheduled instant),
so two dispatchers, a retry or a restart can never create an occurrence twice; a run is
started only by the job that moves it from queued to running (jobs.runner.claim), so a job
enqueued twice runs once.

A scheduled run is **prepared** ``DISPATCH_AHEAD`` seconds before its instant: its row is
inserted, its RQ job is made and **held** in a sorted set scored by the instant, and the task
records the instant after it (``following_run_at``). At the instant, **release** moves every
held job that is due onto the queue in one Redis script — a few milliseconds for thousands
of runs, which is what keeps the enqueue lag low when many tasks share an instant — and
**settle** advances those tasks (watermark → the instant, next_run_at → the following one) in
one statement. Until its instant a prepared run can still be cancelled: editing the schedule
or deactivating the task deletes it (webapp/services/tasks.py).
"""

from __future__ import annotations

import logging
import time as clock
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.utils import now as rq_now
from rq.utils import utcformat
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
HELD = f"herald:held:{REPORTS_QUEUE}"  # job id → its run's instant (Unix time)
JOB_TIMEOUT, RESULT_TTL = 3600, 3600

# Atomically: take the held jobs due by ARGV[1] and put those still waiting (status
# "scheduled": not deleted, not already queued) on the queue, as RQ's enqueue would.
# KEYS: the held set, the queue's list, RQ's set of queues; ARGV: the time, enqueued_at, the
# job key prefix.
_RELEASE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #ids == 0 then return ids end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local ready = {}
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  if redis.call('HGET', key, 'status') == 'scheduled' then
    redis.call('HSET', key, 'status', 'queued', 'enqueued_at', ARGV[2])
    ready[#ready + 1] = id
  end
end
for i = 1, #ready, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ready, i, math.min(i + 999, #ready)))
end
if #ready > 0 then redis.call('SADD', KEYS[3], KEYS[2]) end
return ready
"""


def job_id(run_id: int) -> str:
    return f"herald-run-{run_id}"


def run_id_of(job: str | bytes) -> int:
    return int((job.decode() if isinstance(job, bytes) else job).rsplit("-", 1)[1])


def plan(task: Task, now: datetime) -> tuple[Run, datetime]:
    """The run for a task's next instant and the instant after it. Missed occurrences
    (downtime) become one catch-up run whose window starts at the watermark."""
    schedule, series = sched.of(task), task.series_start
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
    released = release(now, conn)
    while True:
        settle(now)  # the tasks released move on to their following instant…
        db.session.commit()
        if not prepare(now, ahead, conn):  # …which is prepared here if it is close
            return released
        released += release(now, conn)


def prepare(now: datetime, ahead: timedelta, conn) -> int:
    """Prepare one batch of tasks due by ``now + ahead`` that have no prepared run: insert
    their runs, record each task's following instant, commit, hold the jobs. Returns the
    number of tasks taken (0: nothing left). Rows locked by another dispatcher are skipped."""
    due = db.session.scalars(
        sa.select(Task).where(Task.active.is_(True), Task.following_run_at.is_(None),
                              Task.next_run_at <= now + ahead)
        .order_by(Task.next_run_at).limit(BATCH).with_for_update(skip_locked=True)
    ).all()
    if not due:
        return 0
    planned = [(task, *plan(task, now)) for task in due]
    inserted = _insert([run for _, run, _ in planned])
    db.session.execute(sa.update(Task), [
        {"id": task.id, "next_run_at": run.scheduled_for, "following_run_at": following}
        for task, run, following in planned])
    db.session.commit()
    hold(inserted, conn)
    return len(due)


def settle(now: datetime, task_id: int | None = None) -> int:
    """Advance the tasks whose prepared run's instant has come (all, or one): the watermark
    moves to that instant and next_run_at to the following one. One statement; rows another
    transaction holds are left to the next call (or to that transaction: an edit settles its
    task itself). Returns the number of tasks settled; the caller commits."""
    ready = sa.select(Task.id).where(Task.active.is_(True), Task.next_run_at <= now,
                                     Task.following_run_at.is_not(None))
    if task_id is not None:
        ready = ready.where(Task.id == task_id)
    if not db.session.scalar(sa.select(ready.exists())):
        return 0  # no write: on SQLite even an empty UPDATE takes the database's write lock
    if task_id is None:
        ready = ready.with_for_update(skip_locked=True)
    return db.session.execute(
        sa.update(Task).where(Task.id.in_(ready.scalar_subquery()))
        .values(watermark=Task.next_run_at, next_run_at=Task.following_run_at,
                following_run_at=None)
        .execution_options(synchronize_session=False)).rowcount


def cancel_prepared(task: Task) -> bool:
    """Delete the task's prepared run (its instant has not come): the task is being
    deactivated or its schedule changed. Its held job finds no run and does nothing. The
    caller settles the task first and commits."""
    if task.following_run_at is None:
        return False
    db.session.execute(
        sa.delete(Run).where(Run.task_id == task.id, Run.scheduled_for == task.next_run_at,
                             Run.status == "queued")
        .execution_options(synchronize_session=False))
    task.following_run_at = None
    return True


_RUN_COLUMNS = ("company_id", "task_id", "trigger", "scheduled_for", "window_start",
                "window_end", "status")


def _insert(runs: list[Run]) -> list[tuple[int, datetime]]:
    """Insert the batch's runs in one statement; one that exists already (another dispatcher
    made that occurrence) is skipped by the unique (task, scheduled instant) constraint.
    Returns (id, instant) of the runs inserted."""
    rows = [{c: getattr(run, c) for c in _RUN_COLUMNS} for run in runs]
    dialect = db.session.get_bind().dialect.name
    upsert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if upsert is None:  # another database: one savepoint per run
        return _insert_one_by_one(rows)
    statement = upsert(Run).on_conflict_do_nothing(
        index_elements=["task_id", "scheduled_for"]).returning(Run.id, Run.scheduled_for)
    inserted = [tuple(row) for row in db.session.execute(statement, rows)]
    if len(inserted) < len(rows):
        log.info("%d run(s) of this batch existed already", len(rows) - len(inserted))
    return sorted(inserted)


def _insert_one_by_one(rows: list[dict]) -> list[tuple[int, datetime]]:
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
            inserted.append((run.id, run.scheduled_for))
    return inserted


def _job(queue: Queue, run_id: int, status: JobStatus | None = None) -> Job:
    from .runner import run_report

    return queue.create_job(run_report, args=(run_id,), job_id=job_id(run_id),
                            timeout=JOB_TIMEOUT, result_ttl=RESULT_TTL, status=status)


def hold(runs: Iterable[tuple[int, datetime | None]], conn) -> None:
    """Make the runs' jobs and hold them until their instant (None: due now); release()
    enqueues them."""
    runs = list(runs)
    if not runs:
        return
    queue = get_queue(REPORTS_QUEUE, conn)
    with conn.pipeline() as pipe:
        for run_id, instant in runs:
            job = _job(queue, run_id, JobStatus.SCHEDULED)
            job.save(pipeline=pipe)
            pipe.zadd(HELD, {job.id: instant.timestamp() if instant else 0})
        pipe.execute()


def release(now: datetime, conn) -> list[int]:
    """Enqueue every held job whose instant is ``now`` or earlier; return their run ids."""
    queue = get_queue(REPORTS_QUEUE, conn)
    script = conn.register_script(_RELEASE)
    released = script(keys=[HELD, queue.key, Queue.redis_queues_keys],
                      args=[now.timestamp(), utcformat(rq_now()),
                            Job.redis_job_namespace_prefix])
    return [run_id_of(job) for job in released]


def next_instant(now: datetime, conn) -> datetime | None:
    """When the dispatcher has something to do next: the earliest held job, or the earliest
    task due after ``now`` that is not prepared yet (one made since the last preparation)."""
    held = conn.zrange(HELD, 0, 0, withscores=True)
    unprepared = db.session.scalar(sa.select(sa.func.min(Task.next_run_at)).where(
        Task.active.is_(True), Task.following_run_at.is_(None), Task.next_run_at > now))
    candidates = [datetime.fromtimestamp(score, UTC) for _, score in held]
    return min(candidates + ([unprepared] if unprepared else []), default=None)


def enqueue(run_id: int, conn=None) -> None:
    enqueue_many([run_id], conn)


def enqueue_many(run_ids: list[int], conn=None) -> None:
    """Enqueue now (run now, retries of dead runs)."""
    from .runner import run_report

    if not run_ids:
        return
    queue = get_queue(REPORTS_QUEUE, conn)
    with queue.connection.pipeline() as pipe:
        queue.enqueue_many([
            queue.prepare_data(run_report, args=(run_id,), job_id=job_id(run_id),
                               timeout=JOB_TIMEOUT, result_ttl=RESULT_TTL)
            for run_id in run_ids], pipeline=pipe)
        pipe.execute()


def requeue_lost(now: datetime, conn=None, grace: timedelta = REQUEUE_GRACE) -> list[int]:
    """Queued runs whose job is gone from Redis (flushed, restarted), no longer held, or
    ended without starting the run (its worker died first) get their job again: held until
    their instant if it is still to come, else enqueued."""
    conn = conn or connection()
    queued = db.session.execute(sa.select(Run.id, Run.scheduled_for).where(
        Run.status == "queued", Run.created_at <= now - grace).order_by(Run.id)).all()
    if not queued:
        return []
    with conn.pipeline(transaction=False) as pipe:
        for run_id, _ in queued:
            pipe.hget(Job.key_for(job_id(run_id)), "status")
            pipe.zscore(HELD, job_id(run_id))
        replies = pipe.execute()
    lost, dead = [], []
    for (run_id, instant), status, held in zip(queued, replies[::2], replies[1::2],
                                               strict=True):
        status = status and status.decode()
        if status == JobStatus.SCHEDULED.value and held is not None:
            continue  # waiting for its instant
        if status not in (None, JobStatus.SCHEDULED.value, *DEAD_JOB):
            continue  # queued, started…
        if status is not None:
            dead.append(run_id)
        lost.append((run_id, instant))
    if not lost:
        return []
    for run_id in dead:
        Job.fetch(job_id(run_id), connection=conn).delete()
    hold(lost, conn)
    release(now, conn)
    return [run_id for run_id, _ in lost]


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

    It releases and prepares runs, reaps dead runs and re-enqueues lost jobs, then stays for
    the rest of its interval to release each run at its instant (the scheduler starts a tick
    only every interval or so: waiting for the next one would add up to that to the lag).
    """
    now = now or (lambda: datetime.now(UTC))
    config = current_app.config
    conn = connection()
    started = now()
    released = dispatch(started, conn)
    retried = reap(started, timedelta(seconds=config["RUN_HEARTBEAT_TIMEOUT"]), conn)
    requeued = requeue_lost(started, conn)
    retry_deliveries(started, conn)
    # Until the next tick can have started: its interval plus the scheduler's poll, so that
    # consecutive ticks leave no gap (an overlap is harmless: runs are made once).
    horizon = started + timedelta(seconds=config["DISPATCH_INTERVAL"] + SCHEDULER_POLL)
    while (upcoming := next_instant(now(), conn)) is not None and upcoming <= horizon:
        db.session.commit()  # end the read transaction before waiting
        sleep(max(0.0, (upcoming - now()).total_seconds()))
        released += dispatch(now(), conn)
    db.session.commit()
    if released or retried or requeued:
        log.info("released %d run(s), retried %d dead run(s), re-enqueued %d lost job(s)",
                 len(released), len(retried), len(requeued))
