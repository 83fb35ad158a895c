"""Mail that is not a report (an invitation, a password link), sent by a worker, never within
the request that asked for it: "forgot password" then answers alike, and as fast, whether the
address has an account or not (no SMTP round trip tells them apart), and a slow or failing
SMTP server never holds a web request.

The web process renders the message (webapp/services/accounts.py) and hands it over whole,
encrypted with HERALD_ENCRYPTION_KEY (its link sets a password): a job takes plain data and
needs nothing of the services. It takes its company's turn on the reports queue (jobs/fair.py),
so a company's backlog of reports never holds another company's invitation; it is deleted
once sent. The web process enqueues it only once its transaction has committed
(webapp/services/mail_after_commit.py).

If Redis refuses the job at that moment (down, restarting, unreachable), the web process
keeps the sealed message in the database (``held_account_mail``; a warning, counted as
``herald_account_mails_total{status="held"}``), and every dispatcher tick (jobs/tick.py)
queues what is held, oldest first (:func:`release_held`): each row is deleted in the
transaction that queued it, only once Redis took the job, so a Redis still refusing leaves
it for the next tick. The tick itself is a job, so it runs once Redis answers again.

A send that fails (the SMTP server down or refusing for a while) is retried after each of
``ACCOUNT_MAIL_RETRY_DELAYS`` (RQ's ``Retry``: the failed job waits in RQ's scheduled jobs,
and the scheduler every Herald worker runs puts it back on the queue when its time comes).
A retry is taken when a worker pops it, without waiting for its company's turn (as a
delivery's retry). Each failed attempt is logged (a warning) and counted
(``herald_account_mails_total{status="retry"}``); after the last, the job stays
FAILURE_TTL seconds in RQ's failed jobs and an error is logged naming the company and the
recipient's masked address (never the link), counted as ``status="failed"``.
"""

from __future__ import annotations

import logging
import smtplib
from email import message_from_string, policy
from email.message import EmailMessage
from uuid import uuid4

import redis
import sqlalchemy as sa
from flask import current_app
from rq import Retry, get_current_job
from rq.job import Job

from webapp.crypto import decrypt, encrypt
from webapp.extensions import db
from webapp.models import Company, HeldAccountMail

from . import fair, metrics
from .delivery import mailer
from .delivery.base import DeliveryFailed
from .queue import REPORTS_QUEUE, get_queue

log = logging.getLogger(__name__)

JOB_TIMEOUT = 2 * mailer.TIMEOUT + 30  # seconds: connecting, then the message
FAILURE_TTL = 24 * 3600


def retry_delays() -> tuple[int, ...]:
    """Seconds before each retry of a failed send (ACCOUNT_MAIL_RETRY_DELAYS)."""
    return tuple(current_app.config["ACCOUNT_MAIL_RETRY_DELAYS"])


def seal(message: EmailMessage) -> str:
    """The message as a job carries it: encrypted with HERALD_ENCRYPTION_KEY."""
    return encrypt(message.as_string())


def enqueue(message: EmailMessage, company_id: int, conn=None) -> str:
    """Queue ``message`` for sending by a worker; the job's id."""
    return enqueue_sealed(seal(message), company_id, conn)


def enqueue_sealed(sealed: str, company_id: int, conn=None) -> str:
    """Queue a sealed message (:func:`seal`) for sending by a worker; the job's id."""
    queue = get_queue(REPORTS_QUEUE, conn)
    job_id = f"herald-mail-{uuid4().hex}"
    delays = retry_delays()
    retry = Retry(max=len(delays), interval=list(delays)) if delays else None
    with queue.connection.pipeline() as pipe:
        fair.mark(pipe, Job.key_for(job_id), company_id)
        queue.enqueue_many([queue.prepare_data(
            send, args=(sealed, company_id), job_id=job_id,
            timeout=JOB_TIMEOUT, result_ttl=0, failure_ttl=FAILURE_TTL, retry=retry)],
            pipeline=pipe)
        pipe.execute()
    fair.add(queue.connection, queue.key, [job_id])
    return job_id


def release_held(conn) -> int:
    """Queue the mail held while Redis refused it (:class:`HeldAccountMail`), oldest first;
    how many. Run by each dispatcher tick (jobs/tick.py).

    Each row is locked (``SKIP LOCKED``: an overlapping tick takes the next one), queued,
    then deleted in the same transaction: a Redis that refuses again leaves it, and what
    follows it, for the next tick. With nothing held, this is one primary-key lookup.
    """
    released = 0
    while True:
        held = db.session.scalars(
            sa.select(HeldAccountMail).order_by(HeldAccountMail.id).limit(1)
            .with_for_update(skip_locked=True)).first()
        if held is None:
            break
        try:
            enqueue_sealed(held.sealed, held.company_id, conn)
        except redis.RedisError as exc:
            db.session.rollback()
            log.warning("Held account mail %s (company %s) could not be queued yet (%s); "
                        "tried again at the next tick", held.id, held.company_id,
                        type(exc).__name__)
            break
        db.session.delete(held)
        db.session.commit()
        released += 1
    db.session.commit()  # ends the read (and its lock) when nothing was held
    if released:
        log.info("Queued %d held account mail(s)", released)
    return released


def send(sealed: str, company_id: int) -> None:
    """The job: send the message (SMTP_URL, or the built-in outbox)."""
    message = message_from_string(decrypt(sealed), policy=policy.default)
    try:
        mailer.send(message, company_id)
    except Exception as exc:  # noqa: BLE001 - every failure is retried, then kept by RQ
        db.session.rollback()
        raise _failed(message, company_id, exc) from None
    db.session.commit()
    metrics.account_mail("sent")


def mask(address: str) -> str:
    """``nia@acme.example`` → ``n***@acme.example``: enough to tell mails apart in a log."""
    local, _, domain = (address or "").strip().rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


def _reason(exc: Exception) -> str:
    """What failed, without the recipient's address (smtplib names it) or the message."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = {f"{code} {reply.decode(errors='replace')}" if isinstance(reply, bytes)
                   else f"{code} {reply}" for code, reply in exc.recipients.values()}
        return "recipient refused: " + "; ".join(sorted(answers))
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        return f"{type(exc).__name__}: {exc.smtp_code} {text}"
    return f"{type(exc).__name__}: {exc}"


def _failed(message: EmailMessage, company_id: int, exc: Exception) -> DeliveryFailed:
    """Log and count a failed attempt; the exception for RQ (no traceback, no address)."""
    job = get_current_job()
    left = (job.retries_left or 0) if job is not None else 0
    delays = list(job.retry_intervals or []) if job is not None else []
    attempt = max(len(delays) - left, 0) + 1
    company = db.session.get(Company, company_id)
    who = (f"Account mail to {mask(str(message.get('To', '')))} "
           f"(company {company.slug if company else company_id})")
    reason = _reason(exc)
    if left:
        # The retry is taken when popped (jobs/fair.py): a retry put back on the queue by
        # RQ's scheduler is not in its company's turns, where it would wait for every
        # other company's backlog.
        job.connection.hdel(job.key, fair.COMPANY_FIELD)
        log.warning("%s: attempt %s failed (%s); retried in %s s", who, attempt, reason,
                    job.get_retry_interval())
        metrics.account_mail("retry")
    else:
        log.error("%s failed after %s attempt%s (%s); kept %s h in RQ's failed jobs as %s",
                  who, attempt, "" if attempt == 1 else "s", reason, FAILURE_TTL // 3600,
                  job.id if job is not None else "-")
        metrics.account_mail("failed")
    return DeliveryFailed(f"account mail, attempt {attempt}: {reason}")
