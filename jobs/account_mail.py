"""Mail that is not a report (an invitation, a password link), sent by a worker, never within
the request that asked for it: "forgot password" then answers alike, and as fast, whether the
address has an account or not (no SMTP round trip tells them apart), and a slow or failing
SMTP server never holds a web request.

The web process renders the message (webapp/services/accounts.py) and hands it over whole,
encrypted with HERALD_ENCRYPTION_KEY (its link sets a password): a job takes plain data and
needs nothing of the services. It takes its company's turn on the reports queue (jobs/fair.py),
so a company's backlog of reports never holds another company's invitation; it is deleted
once sent, and kept FAILURE_TTL seconds in RQ's failed jobs when sending failed.
"""

from __future__ import annotations

from email import message_from_string, policy
from email.message import EmailMessage
from uuid import uuid4

from rq.job import Job

from webapp.crypto import decrypt, encrypt
from webapp.extensions import db

from . import fair
from .delivery import mailer
from .queue import REPORTS_QUEUE, get_queue

JOB_TIMEOUT = 2 * mailer.TIMEOUT + 30  # seconds: connecting, then the message
FAILURE_TTL = 24 * 3600


def enqueue(message: EmailMessage, company_id: int, conn=None) -> str:
    """Queue ``message`` for sending by a worker; the job's id."""
    queue = get_queue(REPORTS_QUEUE, conn)
    job_id = f"herald-mail-{uuid4().hex}"
    with queue.connection.pipeline() as pipe:
        fair.mark(pipe, Job.key_for(job_id), company_id)
        queue.enqueue_many([queue.prepare_data(
            send, args=(encrypt(message.as_string()), company_id), job_id=job_id,
            timeout=JOB_TIMEOUT, result_ttl=0, failure_ttl=FAILURE_TTL)], pipeline=pipe)
        pipe.execute()
    fair.add(queue.connection, queue.key, [job_id])
    return job_id


def send(sealed: str, company_id: int) -> None:
    """The job: send the message (SMTP_URL, or the built-in outbox)."""
    message = message_from_string(decrypt(sealed), policy=policy.default)
    mailer.send(message, company_id)
    db.session.commit()
