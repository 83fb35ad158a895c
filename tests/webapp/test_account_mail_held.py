"""Account mail that Redis refuses at its commit (in-process): the request answers as
usual, the message is held in the database (encrypted, never the link in clear, a warning
with a masked address, counted as held), and the dispatcher tick queues it once Redis
answers again; a worker then sends it."""

from __future__ import annotations

import logging
import re

import sqlalchemy as sa
from rq import Queue

from jobs import account_mail, metrics, tick
from jobs.embedded_redis import free_port
from jobs.queue import REPORTS_QUEUE, connect, connection
from jobs.worker import work_burst
from tests.conftest import csrf_token
from webapp.extensions import db
from webapp.models import HeldAccountMail, OutboxMessage
from webapp.services import accounts


def reports_queue() -> Queue:
    return Queue(REPORTS_QUEUE, connection=connection())


def held_count(status: str = "held") -> float:
    return metrics.metrics().account_mails.labels(status=status)._value.get()


def test_an_invitation_redis_refuses_is_held_then_queued_by_the_tick(app, client, auth,
                                                                     make_company, caplog):
    company = make_company()
    auth.login("admin@acme-bank.example")
    token = csrf_token(client, "/admin/users/new")
    redis_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens
    before = held_count()
    with caplog.at_level(logging.WARNING):
        answer = client.post("/admin/users/new", data={
            "csrf_token": token, "email": "nia@acme-bank.example", "name": "Nia",
            "invite": "1"})
    assert answer.status_code == 302  # the request answers as usual
    app.config["REDIS_URL"] = redis_url
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "invited" in page and "not yet accepted" in page

    held = db.session.scalars(sa.select(HeldAccountMail)).all()
    assert [row.company_id for row in held] == [company.id]
    assert "nia@acme-bank.example" not in held[0].sealed and "/password/" not in held[0].sealed
    assert held_count() - before == 1
    line = next(r.getMessage() for r in caplog.records
                if r.name == "webapp.services.mail_after_commit")
    assert "n***@acme-bank.example (company acme-bank) held" in line
    assert "nia@acme-bank.example" not in caplog.text and "/password/" not in caplog.text
    assert reports_queue().count == 0

    tick.run_tick(sleep=lambda seconds: None)  # Redis answers again
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(HeldAccountMail.id))) == 0
    assert reports_queue().count == 1
    work_burst(app, connection())
    db.session.expire_all()
    sent = db.session.scalars(sa.select(OutboxMessage)).all()
    assert [m.to_addr for m in sent] == ["nia@acme-bank.example"]
    link = re.search(r"http://herald\.test(/password/\S+)", sent[0].text_body).group(1)
    assert "Welcome to Herald" in client.get(link).get_data(as_text=True)
    assert link not in held[0].sealed


def test_held_mail_waits_while_redis_refuses_and_a_tick_with_none_queues_nothing(
        app, make_company, make_user, caplog):
    company = make_company()
    nia = make_user(company, "nia@acme-bank.example")
    ola = make_user(company, "ola@acme-bank.example")
    queue = reports_queue()
    redis_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    accounts.invite(nia)
    accounts.request_reset("ola@acme-bank.example")
    db.session.commit()  # both committed, both refused: both held, in order
    app.config["REDIS_URL"] = redis_url
    ids = list(db.session.scalars(sa.select(HeldAccountMail.id).order_by(HeldAccountMail.id)))
    assert len(ids) == 2 and ola

    refusing = connect(f"redis://127.0.0.1:{free_port()}/0")  # Redis still away at a tick
    with caplog.at_level(logging.WARNING, logger="jobs.account_mail"):
        assert account_mail.release_held(refusing) == 0
    assert "could not be queued yet" in caplog.text
    db.session.expire_all()
    assert list(db.session.scalars(sa.select(HeldAccountMail.id))) == ids  # kept
    assert queue.count == 0

    assert account_mail.release_held(connection()) == 2
    assert queue.count == 2
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(HeldAccountMail.id))) == 0

    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        if "held_account_mail" in statement:
            statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        tick.run_tick(sleep=lambda seconds: None)  # nothing held: nothing queued
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert queue.count == 2
    assert len(statements) == 1 and "LIMIT" in statements[0]  # one primary-key lookup
    work_burst(app, connection())
    db.session.expire_all()
    assert sorted(db.session.scalars(sa.select(OutboxMessage.to_addr))) == [
        "nia@acme-bank.example", "ola@acme-bank.example"]
