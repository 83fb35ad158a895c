"""The RQ worker entry: ``python -m jobs.worker [QUEUE ...]`` (the Procfile's ``worker`` and
``system``, run by ``serve`` too).

The worker keeps one app context pushed for its whole life, so jobs can use the app's config
and database session; the forked work horse inherits it.

Graceful stop: on SIGTERM (or SIGINT) the worker takes no new job and the job in progress
gets ``SHUTDOWN_GRACE`` seconds to finish. Then it is interrupted at a safe point
(jobs/shutdown.py), or killed ``HORSE_KILL_AFTER`` seconds later if it does not stop, and
the worker puts back what it left (``requeue``): its run returns to "queued" with the reason
and its job is enqueued again at once, not after the heartbeat timeout. A second signal cuts
the grace short. Deliveries recorded as sent are never sent again: a sent delivery matches no
claim (jobs/delivery/attempts.py).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis
import sqlalchemy as sa
from flask import Flask
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import DeserializationError, NoSuchJobError, StopRequested
from rq.job import Job

from webapp import create_app, logs
from webapp.extensions import db
from webapp.models import Delivery, Run

from . import held, metrics, runner, shutdown
from .delivery import attempts
from .delivery.base import DeliveryFailed
from .embedded_redis import die_with_parent
from .fair import FairQueue
from .queue import QUEUE_NAMES, connect, redis_url
from .reports import storage
from .shutdown import HORSE_KILL_AFTER

log = logging.getLogger("jobs.worker")  # not __main__ under python -m


WORKER_TTL = 45  # seconds


def queues(conn: redis.Redis, names: tuple[str, ...] | list[str] = QUEUE_NAMES) -> list[Queue]:
    """Herald's queues (all of them, in priority order, unless named), bound to ``conn``."""
    unknown = [n for n in names if n not in QUEUE_NAMES]
    if unknown:
        raise SystemExit(f"Unknown queue {', '.join(unknown)}: Herald's queues are "
                         f"{', '.join(QUEUE_NAMES)}.")
    return [FairQueue(name, connection=conn) for name in names]


def work_burst(app: Flask, conn: redis.Redis) -> bool:
    """Run every queued job in this process, then return; True if any job ran (for tests)."""
    with app.app_context():
        worker = SimpleWorker(queues(conn), connection=conn, queue_class=FairQueue)
        return worker.work(burst=True, logging_level="WARNING")


class HeraldWorker(Worker):
    """RQ's forking worker with Herald's graceful stop."""

    def __init__(self, *args, grace: float = 25.0, **kwargs) -> None:
        # RQ names a job by its id (herald-run-12) rather than its call: shorter, and how
        # webapp.logs recognises the dispatcher tick's lines.
        kwargs.setdefault("log_job_description", False)
        super().__init__(*args, **kwargs)
        self.grace = grace
        self._worker_pid = os.getpid()
        self.interrupted = False
        self.stopping = False  # SIGTERM or SIGINT came
        self._interrupting = threading.Lock()  # the grace's timer or a second signal

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        """RQ's heartbeat; and a Redis restarted without its data has forgotten this worker,
        so it registers again (/readyz and RQ's tools list only registered workers)."""
        if pipeline is None and not self.connection.sismember(self.redis_workers_keys,
                                                              self.key):
            self.connection.delete(self.key)
            self.register_birth()
            log.warning("Worker %s: registered again (Redis had forgotten it)", self.name)
        super().heartbeat(timeout, pipeline)

    def setup_work_horse_signals(self) -> None:
        shutdown.install_in_horse()
        orphan_guard(self._worker_pid)

    def request_stop(self, signum, frame) -> None:
        self.stopping = True  # RQ records a stop only when it comes during a job
        super().request_stop(signum, frame)

    def handle_warm_shutdown_request(self) -> None:
        if self.horse_pid:
            log.info("Worker %s: stopping; the job in progress has %g s to finish",
                     self.name, self.grace)
        # Armed even when idle: a job may be starting at this very moment.
        _later(self.grace, self.interrupt_job)

    def request_force_stop(self, signum, frame) -> None:
        """A second SIGTERM/SIGINT: interrupt the job now (RQ would kill it, leaving its run
        "running" until the reaper's timeout)."""
        self.interrupt_job()

    def interrupt_job(self) -> None:
        pid = self.horse_pid
        # Never blocks: a signal handler may call this while the timer's thread does.
        if not pid or not self._interrupting.acquire(blocking=False):
            return
        self.interrupted = True
        log.warning("Worker %s: interrupting the job in progress (Herald is stopping)",
                    self.name)
        try:
            os.kill(pid, shutdown.INTERRUPT)
        except ProcessLookupError:
            return
        _later(HORSE_KILL_AFTER, self._kill_horse, pid)

    def _kill_horse(self, pid: int) -> None:
        if self.horse_pid == pid:
            log.warning("Worker %s: the job did not stop within %g s of its interrupt; "
                        "killing it", self.name, HORSE_KILL_AFTER)
            self.kill_horse()

    def execute_job(self, job: Job, queue: Queue) -> None:
        super().execute_job(job, queue)
        if self.interrupted:
            requeue(job, self.connection, self.grace)

    def handle_exception(self, job: Job, *exc_info) -> None:
        if exc_info and exc_info[0] is shutdown.Interrupted:  # expected: no traceback
            log.warning("Worker %s: job %s interrupted: Herald is stopping", self.name, job.id)
            return
        if exc_info and exc_info[0] in (runner.DeliveryError, DeliveryFailed):
            # Expected: every failure is recorded on its delivery row and logged there; the
            # job still ends failed in RQ, without a traceback for an unreachable server.
            log.warning("Worker %s: job %s: %s", self.name, job.id, exc_info[1])
            return
        super().handle_exception(job, *exc_info)


def orphan_guard(worker_pid: int) -> None:
    """In a work horse: if its worker dies (even by SIGKILL), the kernel interrupts the job at
    its next safe point (never mid-delivery) instead of leaving it running unsupervised; the
    reaper then retries its run. A worker already gone by now interrupts it at once."""
    die_with_parent(shutdown.INTERRUPT)
    if os.getppid() != worker_pid:
        os.kill(os.getpid(), shutdown.INTERRUPT)


def _later(delay: float, action: Callable, *args) -> None:
    timer = threading.Timer(delay, action, args)
    timer.daemon = True
    timer.start()


def _name(func: Callable) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def requeue(job: Job, conn: redis.Redis, grace: float) -> None:
    """Put back what an interrupted job left: its run, or its delivery attempt."""
    now = datetime.now(UTC)
    try:
        func, args = job.func_name, job.args
    except DeserializationError:  # not one of ours
        return
    if func == _name(runner.run_report):
        requeue_run(args[0], now, grace, conn)
    elif func == _name(attempts.deliver):
        _release_attempt(args[0], args[1], now)


def requeue_run(run_id: int, now: datetime, grace: float, conn: redis.Redis) -> bool:
    """A run still "running" returns to "queued", with the reason, and its job is enqueued
    again. What was sent stays sent; pending deliveries are the next run's; a delivery cut
    during its attempt (its horse was killed) fails with a retry due now."""
    db.session.rollback()  # see what the horse committed
    run = db.session.get(Run, run_id, populate_existing=True)
    if run is None or run.status != "running":
        return False
    for delivery in run.deliveries:
        if delivery.status == "sending":
            _fail_interrupted(delivery, now)
    reason = (f"Interrupted at {now:%Y-%m-%d %H:%M:%S} UTC: Herald was stopping and the report "
              f"did not finish within SHUTDOWN_GRACE ({grace:g} s). Queued again; deliveries "
              "already sent are not sent again.")
    requeued = db.session.execute(
        sa.update(Run).where(Run.id == run_id, Run.status == "running")
        .values(status="queued", started_at=None, heartbeat_at=None, error=reason)
        .execution_options(synchronize_session=False)).rowcount == 1
    if not requeued:
        db.session.rollback()
        return False
    db.session.refresh(run)
    runner.update_task_status(run.task, run)
    db.session.commit()
    try:  # the failed job of the interrupted attempt makes way for the new one
        Job.fetch(held.job_id(run_id), connection=conn).delete()
    except NoSuchJobError:
        pass
    held.enqueue(run_id, conn)
    log.warning("run %s of task %s: %s", run_id, run.task_id, reason)
    return True


def _release_attempt(delivery_id: int, number: int, now: datetime) -> None:
    """A delivery retry cut during its attempt fails with a retry due now."""
    db.session.rollback()
    delivery = db.session.get(Delivery, delivery_id, populate_existing=True)
    if delivery is not None and delivery.status == "sending" and delivery.attempts == number:
        _fail_interrupted(delivery, now)
        db.session.commit()


def _fail_interrupted(delivery: Delivery, now: datetime) -> None:
    delivery.status = "failed"
    delivery.error = (f"Interrupted: Herald stopped during attempt {delivery.attempts} "
                      "(outcome unknown; a retry sends the same message)")
    delivery.next_attempt_at = now if delivery.attempts < attempts.max_attempts() else None
    log.warning("delivery %s: %s", delivery.id, delivery.error)


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.worker [QUEUE ...]``: a worker on the named queues (default: all)."""
    names = (sys.argv[1:] if argv is None else argv) or list(QUEUE_NAMES)
    app = create_app()
    logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    conn = connect(redis_url(app))
    with app.app_context():
        # Each job runs in a forked work horse: it must not share the parent's pooled
        # database connections (PostgreSQL would see two processes on one socket).
        engine = db.engine
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
        metrics.share_file_with_forked_jobs()
        storage.store()  # boto3 loaded once here, not in every forked job
        # An idle worker beats every WORKER_TTL - 15 s, so /readyz sees it within a minute.
        work_until_stopped(lambda: HeraldWorker(
            queues(conn, names), connection=conn, queue_class=FairQueue,
            grace=app.config["SHUTDOWN_GRACE"], worker_ttl=WORKER_TTL), app.config["LOG_LEVEL"])
    return 0


def work_until_stopped(make: Callable[[], HeraldWorker], logging_level: str,
                       sleep: Callable[[float], None] = time.sleep, most: float = 30.0) -> None:
    """Work until asked to stop. RQ's worker quits when Redis goes away in the middle of a
    job (restarted, failed over); then a new worker starts once Redis answers again."""
    wait = 1.0
    while True:
        worker = None
        try:
            worker = make()  # it talks to Redis already
            # with_scheduler: RQ's own scheduler moves jobs waiting for a retry to the queue.
            worker.work(with_scheduler=True, logging_level=logging_level)
            reason = "its loop ended"
        except StopRequested:
            return
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        if worker is not None and (worker.stopping or worker._stop_requested):
            return
        log.error("Worker stopped (%s); a new worker starts in %g s", reason, wait)
        # No job in progress here: a stop signal may end the process at once.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sleep(wait)
        wait = min(most, wait * 2)


if __name__ == "__main__":
    sys.exit(main())
