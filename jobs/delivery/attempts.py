"""Delivery attempts: claim a delivery, send it, record the outcome, plan the retry.

A delivery row's states::

    pending ──claim──▶ sending ──ok──▶ sent            (final: never claimed again)
                          │
                          └──error──▶ failed, next_attempt_at = now + DELIVERY_RETRY_DELAYS[n]
                                      (or failed for good, next_attempt_at NULL, when the
                                       attempts are used up)
    failed, next_attempt_at ≤ now ──claim──▶ sending
    sending for longer than stale_after() (its worker died) ──recover──▶ failed, retry now
    pending in a run that ended without attempting it (reaped) ──recover──▶ failed, retry now

The claim of attempt n is one conditional UPDATE (status pending or failed-with-a-retry-left,
and attempts = n - 1), committed before anything is sent: of two workers (a retry, a
restarted worker, a second worker with the same job) exactly one sees rowcount 1 and sends; a
sent delivery matches no claim, ever. The single window left is a worker that dies
after the far side accepted the report and before "sent" is committed: recovery retries it
with the same Message-ID (chosen and stored before the first attempt) and the same file name
(uploaded under a temporary name, then renamed over), so the recipient gets that same
message or file again, not a second report.

Retries are rows, not timers: the periodic tick (jobs/tick.run_tick) enqueues the
deliveries whose ``next_attempt_at`` has come, so a flushed Redis or a restart loses none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from webapp.extensions import db
from webapp.models import Delivery, Run
from webapp.models.runs import FINISHED

from .. import metrics
from ..queue import REPORTS_QUEUE, connection, get_queue
from ..reports import storage
from ..shutdown import uninterruptible
from . import registry, settings
from .base import DeliveryFailed, SendContext, scrub
from .email import new_message_id
from .settings import timeouts

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _clock() -> datetime:
    return datetime.now(UTC)


def retry_delays() -> tuple[int, ...]:
    return tuple(current_app.config["DELIVERY_RETRY_DELAYS"])


def max_attempts() -> int:
    return len(retry_delays()) + 1


def stale_after() -> timedelta:
    """How long an attempt may be "sending" before its worker is taken for dead."""
    t = timeouts()
    return timedelta(seconds=2 * t.connect + t.transfer + 300)


def outcome(deliveries) -> str:
    """A finished run's status from its deliveries (docs/product.md §8: succeeded, partial, failed).
    Once the first attempts are made, a delivery not sent is one that failed (a "sending"
    one is being retried), so only "sent" counts."""
    sent = sum(d.status == "sent" for d in deliveries)
    if sent == len(deliveries):
        return "succeeded"
    return "partial" if sent else "failed"


def claim(delivery_id: int, number: int, now: datetime) -> bool:
    """Take attempt ``number`` (1, 2, …) of a delivery for this worker. False if that attempt
    is taken or done already, if the delivery is sent, or if it has no attempt left."""
    result = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.attempts == number - 1, sa.or_(
            Delivery.status == "pending",
            sa.and_(Delivery.status == "failed", Delivery.next_attempt_at.is_not(None))))
        .values(status="sending", attempts=number, claimed_at=now, next_attempt_at=None)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


@uninterruptible()  # a stopping worker interrupts the job only once the attempt is recorded
def attempt(delivery_id: int, number: int, clock: Clock = _clock,
            claimed: Delivery | None = None,
            finish: Callable[[], None] | None = None) -> Delivery | None:
    """Attempt ``number`` of one delivery. None if another worker has it, or had it.

    ``claimed``: the delivery, whose claim of this attempt the caller has committed (a
    delivery it has just made, known to no one else). ``finish``: called before the outcome
    is committed, to record more with it (the run's end, jobs/runner.py).

    The outcome is recorded on the row; DeliveryFailed is recorded as it is. Anything else is
    recorded and re-raised.
    """
    if claimed is not None:
        delivery = claimed
    elif not claim(delivery_id, number, clock()):
        log.info("attempt %s of delivery %s is taken, done or not possible", number,
                 delivery_id)
        return None
    else:  # as the claim left it (the session may hold it from before)
        delivery = db.session.get(Delivery, delivery_id, populate_existing=True)
    run = delivery.run
    secrets: list[str] = []
    try:
        # An upload reads the file (a local copy when the store is S3); an email links to it.
        with (storage.local_copy(run) if delivery.kind == "server" else nullcontext()) as path:
            ctx = _context(run, delivery, path)
            secrets = ctx.server.secrets if ctx.server else []
            destination = (registry.get("email") if delivery.kind == "email"
                           else registry.for_transport(ctx.server.transport))
            if delivery.kind == "email" and not delivery.message_id:
                delivery.message_id = new_message_id()
                db.session.commit()
            receipt = destination.send(ctx)
    except DeliveryFailed as exc:
        _record_failure(delivery, scrub(str(exc), secrets), finish)
    except FileNotFoundError as exc:  # deleted (retention, its task) before this attempt
        _record_failure(delivery, f"The report file is no longer stored: {exc}", finish)
    except Exception as exc:
        db.session.rollback()
        _record_failure(delivery, scrub(f"{type(exc).__name__}: {exc}", secrets))
        _record_end(delivery, clock())
        raise
    else:
        delivery.status, delivery.error = "sent", None
        delivery.delivered_at = clock()
        if delivery.kind == "email":
            delivery.message_id = receipt
        _commit_with_run(delivery, finish)
    _record_end(delivery, clock())
    return delivery


def _record_end(delivery: Delivery, now: datetime) -> None:
    """One log line per delivery attempt, and the deliveries metric."""
    seconds = max(0.0, (now - delivery.claimed_at).total_seconds())
    metrics.delivery_finished(delivery.kind, delivery.status)
    run = delivery.run
    failure = "" if delivery.status == "sent" else f": {delivery.error}" + (
        f"; next attempt at {delivery.next_attempt_at.isoformat()}"
        if delivery.next_attempt_at else "; no attempts left")
    log.log(logging.INFO if delivery.status == "sent" else logging.WARNING,
            "delivery %s (%s, attempt %s) of run %s, task %s (%s) %s in %.2f s%s",
            delivery.id, delivery.kind, delivery.attempts, run.id, run.task_id,
            run.company.slug, delivery.status, seconds, failure,
            extra={"delivery_id": delivery.id, "run_id": run.id, "task_id": run.task_id,
                    "company": run.company.slug, "kind": delivery.kind,
                    "attempt": delivery.attempts, "outcome": delivery.status,
                    "duration": round(seconds, 3)})


def _context(run: Run, delivery: Delivery, file_path: str | None) -> SendContext:
    server = None
    if delivery.kind == "server":
        task = run.task
        if not task.server:
            raise DeliveryFailed("The task no longer has an upload server.")
        try:
            server = settings.settings(task.server)
        except ValueError as exc:  # a secret the configured keys cannot decrypt
            raise DeliveryFailed(f"The server's password cannot be read: {exc}") from None
        delivery.target = server.target
    return SendContext(run=run, delivery=delivery, file_path=file_path, server=server,
                       timeouts=timeouts())


def _record_failure(delivery: Delivery, error: str,
                    finish: Callable[[], None] | None = None) -> None:
    """Failed; the next attempt is due its delay after this one started (or never)."""
    delays = retry_delays()
    delivery.status, delivery.error = "failed", error
    delivery.next_attempt_at = (
        delivery.claimed_at + timedelta(seconds=delays[delivery.attempts - 1])
        if delivery.attempts <= len(delays) else None)
    _commit_with_run(delivery, finish)


def _commit_with_run(delivery: Delivery, finish: Callable[[], None] | None = None) -> None:
    """Record the attempt; a finished run's status follows its deliveries."""
    run = delivery.run
    if run.done and run.status != "expired":  # an expired run stays so
        db.session.flush()
        run.status = outcome(run.deliveries)
    if finish is not None:
        finish()
    db.session.commit()


# --- the RQ side -----------------------------------------------------------------------------

def job_id(delivery: Delivery) -> str:
    return f"herald-delivery-{delivery.id}-{delivery.attempts + 1}"


def deliver(delivery_id: int, number: int) -> str | None:
    """The RQ job of a retry. Raises when the attempt failed, so RQ shows the failure too."""
    delivery = attempt(delivery_id, number)
    if delivery is None:
        return None
    if delivery.status == "failed":
        raise DeliveryFailed(f"delivery {delivery.id} to {delivery.target}: {delivery.error}")
    return delivery.status


def recover_stale(now: datetime, grace: timedelta = timedelta(minutes=1)) -> list[int]:
    """Deliveries left behind by a worker that died become failed, with a retry due now:
    an attempt "sending" for longer than stale_after(), and a delivery still pending in a run
    that ended (was reaped) before its first attempt was made."""
    stale = db.session.scalars(sa.select(Delivery).where(
        Delivery.status == "sending",
        Delivery.claimed_at <= now - stale_after())).all()
    ended = sa.func.coalesce(Run.finished_at, Run.started_at, Run.created_at)
    orphans = db.session.scalars(sa.select(Delivery).join(Run).where(
        Delivery.status == "pending", Run.status.in_(FINISHED),
        ended <= now - grace)).all()
    for delivery in stale + orphans:
        if delivery.status == "sending":
            error = (f"Interrupted: the worker stopped during attempt {delivery.attempts} "
                     "(outcome unknown)")
        else:
            error = "Not attempted: the run stopped before this delivery"
        delivery.status, delivery.error = "failed", error
        delivery.next_attempt_at = now if delivery.attempts < max_attempts() else None
        log.warning("delivery %s: %s", delivery.id, error)
        _commit_with_run(delivery)
    return [d.id for d in stale + orphans]


def _waiting(jid: str, conn) -> bool:
    """The job of that attempt is queued or running (a finished one that claimed nothing,
    e.g. it died before its claim, does not hold the retry back)."""
    try:
        job = Job.fetch(jid, connection=conn)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.STARTED,
                                              JobStatus.SCHEDULED, JobStatus.DEFERRED)


def enqueue_due(now: datetime, conn=None) -> list[int]:
    """Enqueue one job for each failed delivery whose retry time has come. A job names the
    attempt it makes, so a second job for the same attempt finds nothing to claim."""
    conn = conn or connection()
    due = db.session.scalars(sa.select(Delivery).where(
        Delivery.status == "failed", Delivery.next_attempt_at.is_not(None),
        Delivery.next_attempt_at <= now).order_by(Delivery.next_attempt_at).limit(500)).all()
    queue = get_queue(REPORTS_QUEUE, conn)
    enqueued = []
    for delivery in due:
        jid = job_id(delivery)
        if _waiting(jid, conn):
            continue
        queue.enqueue(deliver, delivery.id, delivery.attempts + 1, job_id=jid,
                      job_timeout=3600, result_ttl=3600, failure_ttl=7 * 24 * 3600)
        enqueued.append(delivery.id)
    return enqueued
