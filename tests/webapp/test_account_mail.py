"""Account mail (in-process): queued for a worker only once its transaction commits (never
when it, or the savepoint that made it, rolls back), and a send that fails is retried after
ACCOUNT_MAIL_RETRY_DELAYS, then kept in RQ's failed jobs with an error logged that names
the company and a masked address, never the link."""

from __future__ import annotations

import logging
import re
import time

import sqlalchemy as sa
from rq import Queue
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler

from jobs import fair, metrics
from jobs.embedded_redis import free_port
from jobs.queue import REPORTS_QUEUE, connection
from jobs.worker import work_burst
from webapp.extensions import db
from webapp.models import OutboxMessage
from webapp.services import accounts
from webapp.services.mail_after_commit import pending


def reports_queue() -> Queue:
    return Queue(REPORTS_QUEUE, connection=connection())


def test_a_rollback_after_the_mail_queues_nothing_a_commit_queues_one(app, make_company,
                                                                        make_user):
    company = make_company()
    nia = make_user(company, "nia@acme-bank.example")
    queue = reports_queue()

    accounts.invite(nia)
    assert queue.count == 0 and pending() == 1  # nothing reaches Redis before the commit
    db.session.rollback()
    assert queue.count == 0 and pending() == 0
    db.session.commit()  # a later commit does not bring it back
    assert queue.count == 0

    accounts.invite(db.session.get(type(nia), nia.id))
    db.session.close()  # closed without a commit (a request's end): dropped as well
    assert pending() == 0
    db.session.commit()
    assert queue.count == 0

    accounts.invite(db.session.get(type(nia), nia.id))
    db.session.commit()
    assert queue.count == 1 and pending() == 0
    work_burst(app, connection())
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 1


def test_a_savepoint_rolled_back_drops_only_its_own_mail(app, make_company, make_user):
    company = make_company()
    nia = make_user(company, "nia@acme-bank.example")
    ola = make_user(company, "ola@acme-bank.example")
    queue = reports_queue()

    accounts.invite(nia)
    savepoint = db.session.begin_nested()
    accounts.invite(ola)
    savepoint.rollback()
    with db.session.begin_nested():  # a savepoint's commit waits for the outer one
        accounts.request_reset("nia@acme-bank.example")
    assert queue.count == 0 and pending() == 2
    db.session.commit()
    assert queue.count == 2
    work_burst(app, connection())
    assert sorted(db.session.scalars(sa.select(OutboxMessage.to_addr))) == [
        "nia@acme-bank.example", "nia@acme-bank.example"]


def test_a_request_that_fails_after_the_mail_sends_nothing(app, client, make_company,
                                                           make_user, monkeypatch):
    company = make_company()
    make_user(company, "nia@acme-bank.example")
    from tests.conftest import csrf_token
    from webapp.services import audit

    real = audit.record

    def failing(action, *args, **kwargs):
        if action == "password.reset_request":
            raise RuntimeError("the audit trail is unavailable")
        return real(action, *args, **kwargs)

    monkeypatch.setattr(audit, "record", failing)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    token = csrf_token(client, "/password/forgot")
    answer = client.post("/password/forgot", data={"csrf_token": token,
                                                   "email": "nia@acme-bank.example"})
    assert answer.status_code == 500, answer.status_code  # the error page, rolled back
    assert reports_queue().count == 0


def _due_now(queue: Queue) -> None:
    """RQ's scheduler (run by every Herald worker) moves the waiting retries to the queue,
    as if their time had come."""
    registry = ScheduledJobRegistry(queue=queue)
    for job_id in registry.get_job_ids():
        queue.connection.zadd(registry.key, {job_id: 0})
    scheduler = RQScheduler([queue], connection=queue.connection)
    scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()
    scheduler.release_locks()


def test_a_failed_send_is_retried_then_sent(app, make_company, make_user, caplog):
    company = make_company()
    nia = make_user(company, "nia@acme-bank.example")
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nobody listens
    app.config["ACCOUNT_MAIL_RETRY_DELAYS"] = (40, 300)
    accounts.invite(nia)
    db.session.commit()
    queue = reports_queue()
    started = time.time()
    with caplog.at_level(logging.WARNING):
        work_burst(app, connection())
    scheduled = ScheduledJobRegistry(queue=queue)
    assert queue.failed_job_registry.count == 0 and scheduled.count == 1
    job_id = scheduled.get_job_ids()[0]
    assert 35 < scheduled.get_scheduled_time(job_id).timestamp() - started < 60
    # Its retry is taken when popped, not behind other companies' turns.
    assert queue.connection.hget(f"rq:job:{job_id}", fair.COMPANY_FIELD) is None
    assert "Account mail to n***@acme-bank.example (company acme-bank): attempt 1 failed" \
        in caplog.text and "retried in 40 s" in caplog.text

    app.config["SMTP_URL"] = None  # the mail server is back (the built-in outbox)
    _due_now(queue)
    work_burst(app, connection())
    db.session.expire_all()
    assert db.session.scalar(sa.select(OutboxMessage.to_addr)) == "nia@acme-bank.example"
    assert queue.failed_job_registry.count == 0 and scheduled.count == 0


def test_a_send_failing_every_attempt_lands_in_the_failed_jobs(app, make_company, make_user,
                                                               caplog):
    company = make_company()
    nia = make_user(company, "nia@acme-bank.example")
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"
    app.config["ACCOUNT_MAIL_RETRY_DELAYS"] = (1, 1)
    accounts.invite(nia)
    db.session.commit()
    queue = reports_queue()
    scheduled = ScheduledJobRegistry(queue=queue)
    counted = metrics.metrics().account_mails

    def count(status: str) -> float:
        return counted.labels(status=status)._value.get()

    before = count("retry"), count("failed")
    with caplog.at_level(logging.WARNING, logger="jobs.account_mail"):
        work_burst(app, connection())
        for _ in range(2):
            assert scheduled.count == 1 and queue.failed_job_registry.count == 0
            _due_now(queue)
            work_burst(app, connection())
    assert scheduled.count == 0 and queue.failed_job_registry.count == 1
    assert (count("retry") - before[0], count("failed") - before[1]) == (2, 1)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR
              and r.name == "jobs.account_mail"]
    assert len(errors) == 1
    line = errors[0].getMessage()
    assert "n***@acme-bank.example (company acme-bank) failed after 3 attempts" in line
    assert "RQ's failed jobs" in line
    # Never the link, nor the whole address, in any line.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name == "jobs.account_mail")
    assert "nia@acme-bank.example" not in ours and "/password/" not in ours
    assert not re.search(r"attempt [4-9]", caplog.text)
