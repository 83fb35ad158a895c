"""What an interrupted job leaves is put back (jobs/worker.py): its run returns to "queued"
and its job is enqueued again; a delivery cut during its attempt fails with a retry due now."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import redis
import sqlalchemy as sa
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job

from webapp.extensions import db
from webapp.models import Delivery, Run

from . import held, runner
from .delivery import attempts

log = logging.getLogger("jobs.worker")


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
    during its attempt (its job was cut) fails with a retry due now."""
    db.session.rollback()  # see what the job committed
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
