"""The RQ worker entry: ``python -m jobs.worker [QUEUE ...]`` (the Procfile's ``worker`` and
``system``, run by ``serve`` too).

Jobs run in the worker's own process, one after the other (RQ's ``SimpleWorker``, no fork per
job): the app, its settings, the database engine's pool, the report store's client and the
SMTP connection (jobs/delivery/mailer.py) are made once and serve every job. Each job gets an
app context of its own, and its database session is removed when it ends, so nothing of one
job's state reaches the next.

Graceful stop: on SIGTERM (or SIGINT) the worker takes no new job and the job in progress
gets ``SHUTDOWN_GRACE`` seconds to finish. Then it is interrupted at a safe point
(jobs/shutdown.py) and the worker puts back what it left (``requeue``): its run returns to
"queued" with the reason and its job is enqueued again at once, not after the heartbeat
timeout. A job still running ``CUT_AFTER`` seconds after its interrupt (stuck in a call that
does not return) is cut: the worker puts its run back from another thread and exits. A
second signal cuts the grace short. Deliveries recorded as sent are never sent again: a sent
delivery matches no claim (jobs/delivery/attempts.py). A worker that dies (even by SIGKILL)
takes its job with it; the reaper retries the run (``RUN_HEARTBEAT_TIMEOUT``).
"""

from __future__ import annotations

import inspect
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext

import redis
from flask import Flask
from redis.client import PubSubWorkerThread
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.timeouts import UnixSignalDeathPenalty

from webapp import create_app, logs
from webapp.extensions import db

from . import runner, shutdown
from .delivery import mailer
from .delivery.base import DeliveryFailed
from .fair import FairQueue
from .queue import QUEUE_NAMES, connect, redis_url
from .reports import storage
from .requeue import requeue
from .shutdown import CUT_AFTER

log = logging.getLogger("jobs.worker")  # not __main__ under python -m


WORKER_TTL = 45  # seconds
BEAT_GAP = 1.0  # seconds: see HeraldWorker.heartbeat


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


class JobTime(UnixSignalDeathPenalty):
    """RQ runs a job's own code, and only it, inside the job's time limit: there Herald's
    interrupt may land (never in RQ's bookkeeping before or after)."""

    def setup_death_penalty(self) -> None:
        super().setup_death_penalty()
        shutdown.arm()

    def cancel_death_penalty(self) -> None:
        shutdown.disarm()
        super().cancel_death_penalty()


class HeraldWorker(SimpleWorker):
    """RQ's non-forking worker with Herald's graceful stop; ``app`` (if given) gets an app
    context per job."""

    death_penalty_class = JobTime

    def __init__(self, *args, grace: float = 25.0, app: Flask | None = None, **kwargs) -> None:
        # RQ names a job by its id (herald-run-12) rather than its call: shorter, and how
        # webapp.logs recognises the dispatcher tick's lines.
        kwargs.setdefault("log_job_description", False)
        super().__init__(*args, **kwargs)
        self.grace, self.app = grace, app
        self.interrupted = False
        self.stopping = False  # SIGTERM or SIGINT came
        self.job: Job | None = None  # the job in progress
        self._interrupting = threading.Lock()  # the grace's timer or a second signal
        self._checked_at = -BEAT_GAP  # time.monotonic() of the last beat sent on its own
        self._expires_at = 0.0  # time.monotonic() at which Redis forgets this worker
        shutdown.install()

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        """RQ's heartbeat; and a Redis restarted without its data has forgotten this worker,
        so it registers again (/readyz and RQ's tools list only registered workers). The
        check and the beat go in one round trip.

        RQ beats three times a job on its own (before and after the dequeue, after the job).
        A beat is not sent when such a beat was sent less than ``BEAT_GAP`` seconds ago and
        the worker's expiry, as the last beat set it, is at most ``BEAT_GAP`` seconds short
        of what this one would set. A beat in a pipeline (with RQ's other writes before a
        job) is always sent."""
        ttl = timeout or self.worker_ttl + 60  # as RQ's
        now = time.monotonic()
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
        elif now - self._checked_at < BEAT_GAP and self._expires_at - now >= ttl - BEAT_GAP:
            return
        else:
            with self.connection.pipeline(transaction=False) as pipe:
                pipe.sismember(self.redis_workers_keys, self.key)
                super().heartbeat(timeout, pipe)
                registered = pipe.execute()[0]
            if not registered:
                self.connection.delete(self.key)  # the beat's fields alone
                self.register_birth()
                super().heartbeat(timeout)
                log.warning("Worker %s: registered again (Redis had forgotten it)", self.name)
            self._checked_at = now
        self._expires_at = now + ttl  # an EXPIRE sets the expiry, shorter or longer

    def request_stop(self, signum, frame) -> None:
        self.stopping = True  # RQ records a stop only when it comes during a job
        super().request_stop(signum, frame)

    def handle_warm_shutdown_request(self) -> None:
        if self.job is not None:
            log.info("Worker %s: stopping; the job in progress has %g s to finish",
                     self.name, self.grace)
        # Armed even when idle: a job may be starting at this very moment.
        _later(self.grace, self.interrupt_job)

    def request_force_stop(self, signum, frame) -> None:
        """A second SIGTERM/SIGINT: interrupt the job now (RQ would end the process at once,
        leaving its run "running" until the reaper's timeout)."""
        self.interrupt_job()

    def interrupt_job(self) -> None:
        job = self.job
        # Never blocks: a signal handler may call this while the timer's thread does.
        if job is None or not self._interrupting.acquire(blocking=False):
            return
        self.interrupted = True
        log.warning("Worker %s: interrupting the job in progress (Herald is stopping)",
                    self.name)
        os.kill(os.getpid(), shutdown.INTERRUPT)  # handled by the main thread, in the job
        _later(CUT_AFTER, self._cut, job)

    def _cut(self, job: Job) -> None:
        """The job did not stop after its interrupt: put its run back from here and exit."""
        if self.job is not job:
            return
        log.warning("Worker %s: the job did not stop within %g s of its interrupt; cutting "
                    "it", self.name, CUT_AFTER)
        try:
            with self.app.app_context() if self.app else nullcontext():
                requeue(job, self.connection, self.grace)
            self.register_death()
        finally:
            logging.shutdown()
            os._exit(0)

    def execute_job(self, job: Job, queue: Queue) -> None:
        with self.app.app_context() if self.app else nullcontext():
            # A session of its own, removed with the context when the job ends.
            self.job = job
            try:
                super().execute_job(job, queue)
            except shutdown.Interrupted:  # it landed as RQ recorded the job's end
                log.warning("Worker %s: job %s interrupted", self.name, job.id)
            finally:
                self.job = None
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

    def teardown(self) -> None:
        mailer.close()
        super().teardown()

    def unsubscribe(self) -> None:
        """RQ's, but the wait for the pubsub thread (which listens for stop and kill commands)
        is bounded. RQ sends UNSUBSCRIBE, stops the thread and joins it for a second; but its
        reply wakes the thread, which then waits up to RQ's 60 s for a new subscription, and
        redis-py's ``stop()`` now joins it with no limit: a worker told to stop then took up
        to a minute to exit. The thread is a daemon: it ends with the process."""
        if not self.pubsub_thread:
            return
        self.log.info("Worker %s: unsubscribing from channel %s", self.name,
                      self.pubsub_channel_name)
        self.pubsub.unsubscribe()
        if _STOP_TAKES_TIMEOUT:
            self.pubsub_thread.stop(timeout=1)
        else:  # redis-py before the join in stop(): it only clears the running flag
            self.pubsub_thread.stop()
        self.pubsub_thread.join(timeout=1)
        self.pubsub.close()


_STOP_TAKES_TIMEOUT = "timeout" in inspect.signature(PubSubWorkerThread.stop).parameters


def _later(delay: float, action: Callable, *args) -> None:
    timer = threading.Timer(delay, action, args)
    timer.daemon = True
    timer.start()


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.worker [QUEUE ...]``: a worker on the named queues (default: all)."""
    names = (sys.argv[1:] if argv is None else argv) or list(QUEUE_NAMES)
    app = create_app()
    logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    conn = connect(redis_url(app))
    mailer.keep_open()
    with app.app_context():
        # RQ's scheduler runs in a forked process: it must not share this one's pooled
        # database connections (PostgreSQL would see two processes on one socket).
        engine = db.engine
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
        storage.store()  # the store (boto3's client for S3) is made once, for every job
        # An idle worker beats every WORKER_TTL - 15 s, so /readyz sees it within a minute.
        work_until_stopped(lambda: HeraldWorker(
            queues(conn, names), connection=conn, queue_class=FairQueue, app=app,
            grace=app.config["SHUTDOWN_GRACE"], worker_ttl=WORKER_TTL), app.config["LOG_LEVEL"])
        engine.dispose()
    conn.close()
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
    status = main()
    # As RQ's work horses end: without the interpreter's teardown, whose final garbage
    # collection can take seconds in a process that ran jobs (past a platform's stop budget).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
