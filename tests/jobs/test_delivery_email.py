"""Report emails through real SMTP servers (aiosmtpd, also with STARTTLS and AUTH): one message
per address with its own Message-ID, one bad address never blocks the others, retries with
backoff, and a sent delivery is never sent again."""

from __future__ import annotations

import re
import ssl
import threading
from datetime import UTC, datetime, timedelta
from email import policy as email_policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from jobs.delivery import attempts
from jobs.delivery import email as report_email
from jobs.embedded_redis import free_port
from jobs.reports import storage
from jobs.runner import DeliveryError, run_report
from webapp.extensions import db
from webapp.models import Delivery, Run
from webapp.services import tasks as task_service

from ..delivery_servers import make_ca_and_cert

BAD = "nobody@acme.example"


def make_task(company, emails, report_type="usage_by_rooms"):
    data = task_service.validate(company, {
        "name": "Rooms daily", "report_type": report_type, "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30", "timezone": "America/New_York"},
        "recipients": {"emails": emails}})
    task = task_service.save(company, data, datetime.now(UTC))
    db.session.commit()
    return task


def new_run(task, trigger="manual") -> Run:
    end = datetime(2026, 3, 9, 10, 30, tzinfo=UTC)
    run = Run(company_id=task.company_id, task_id=task.id, trigger=trigger,
              window_start=end - timedelta(days=1), window_end=end, status="queued")
    db.session.add(run)
    db.session.commit()
    return run


def deliveries(run_id: int) -> dict[str, Delivery]:
    db.session.expire_all()
    return {d.target: d for d in db.session.get(Run, run_id).deliveries}


class Refusing:
    """An SMTP handler that refuses one address and keeps the rest."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address == BAD:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        from email import message_from_bytes, policy

        with self.lock:
            self.messages.append((envelope.rcpt_tos, message_from_bytes(
                envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"


@pytest.fixture
def refusing_smtp(app):
    handler = Refusing()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{controller.port}"
    yield handler
    controller.stop()


def test_each_address_gets_its_own_message(smtp_app, make_company, mailbox):
    task = make_task(make_company(), ["a@acme.example", "b@acme.example"])
    run = new_run(task, trigger="catch_up")
    run_report(run.id)
    sent = deliveries(run.id)
    assert {t: (d.status, d.attempts) for t, d in sent.items()} == {
        "a@acme.example": ("sent", 1), "b@acme.example": ("sent", 1)}
    by_rcpt = {rcpts[0]: m for rcpts, m in mailbox.messages}
    assert sorted(by_rcpt) == ["a@acme.example", "b@acme.example"]
    ids = {m["Message-ID"] for m in by_rcpt.values()}
    assert ids == {d.message_id for d in sent.values()} and len(ids) == 2
    message = by_rcpt["a@acme.example"]
    assert message["To"] == "a@acme.example"
    assert message["Subject"] == ("[Acme Bank] Rooms daily: Chat Usage report by Rooms, "
                                  "Sun 8 Mar 2026 06:30 – Mon 9 Mar 2026 06:30 "
                                  "(America/New_York)")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Acme Bank" in body and "Rooms daily" in body
        assert "Chat Usage report by Rooms" in body
        # The window in the task's time zone (New York: EDT since 07:00 UTC on 8 March 2026).
        assert "Sun 8 Mar 2026 06:30 – Mon 9 Mar 2026 06:30 (America/New_York)" in body
        assert "T06:30" not in body and ":00." not in body  # no raw ISO text, no microseconds
        assert "0 rows" in body
        assert "catch-up run" in body
        assert f"http://herald.test/runs/{run.id}" in body
    assert not any(part.get_filename() for part in message.walk())


def test_a_message_is_the_same_bytes_as_with_the_default_policy(app, make_company,
                                                                 monkeypatch):
    """Its headers shared between messages (jobs/delivery/email.py, SharedHeaders) change
    nothing in what is sent, a non-ASCII name included."""
    app.config["MAIL_FROM"] = "Herald Müller <herald@acme.example>"
    run = new_run(make_task(make_company("Bäckerei Müller"), ["ä@acme.example"]))

    def as_bytes(address: str) -> bytes:
        message = report_email.compose(run, address, "<1@herald.test>")
        message.set_boundary("===herald-test===")
        return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))

    shared = [as_bytes(a) for a in ("a@acme.example", "a@acme.example", "ä@acme.example")]
    assert report_email.POLICY.header_factory._parsed  # parsed once, then shared
    monkeypatch.setattr(report_email, "POLICY", email_policy.default)
    assert shared == [as_bytes(a) for a in ("a@acme.example", "a@acme.example",
                                           "ä@acme.example")]


def test_one_refused_address_does_not_block_the_others(app, make_company, refusing_smtp,
                                                       redis_conn, work):
    task = make_task(make_company(), ["a@acme.example", BAD, "b@acme.example"])
    run = new_run(task)
    with pytest.raises(DeliveryError, match="1 of 3 deliveries"):
        run_report(run.id)
    result = deliveries(run.id)
    assert {t: d.status for t, d in result.items()} == {
        "a@acme.example": "sent", BAD: "failed", "b@acme.example": "sent"}
    bad = result[BAD]
    assert bad.error == f"The mail server refused {BAD}: 550 5.1.1 No such user here"
    assert bad.next_attempt_at == bad.claimed_at + timedelta(seconds=300)
    assert db.session.get(Run, run.id).status == "partial"
    assert len(refusing_smtp.messages) == 2

    # The retry is for the refused address alone: the others are never sent again.
    assert attempts.enqueue_due(bad.next_attempt_at, redis_conn) == [bad.id]
    work()
    result = deliveries(run.id)
    assert (result[BAD].attempts, result[BAD].status) == (2, "failed")
    assert result[BAD].next_attempt_at == result[BAD].claimed_at + timedelta(seconds=1500)
    assert [r for rcpts, _ in refusing_smtp.messages for r in rcpts] == [
        "a@acme.example", "b@acme.example"]
    # The CSV stays downloadable whatever happened to the deliveries.
    with storage.local_copy(db.session.get(Run, run.id)) as path, open(path, "rb") as fh:
        assert fh.read().startswith(b"company,")


def test_retry_after_smtp_outage_keeps_the_message_id(app, make_company, smtp_server, mailbox,
                                                      redis_conn, work):
    down = free_port()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{down}"
    task = make_task(make_company(), ["a@acme.example"])
    run = new_run(task)
    with pytest.raises(DeliveryError):
        run_report(run.id)
    delivery = deliveries(run.id)["a@acme.example"]
    assert delivery.error == "Sending mail failed: ConnectionRefusedError: Connection refused"
    assert db.session.get(Run, run.id).status == "failed"
    first_id = delivery.message_id
    assert re.fullmatch(r"<.+@herald\.example>", first_id)

    controller, _ = smtp_server
    app.config["SMTP_URL"] = f"smtp://{controller.hostname}:{controller.port}"
    assert attempts.enqueue_due(delivery.next_attempt_at, redis_conn) == [delivery.id]
    work()
    delivery = deliveries(run.id)["a@acme.example"]
    assert (delivery.status, delivery.attempts, delivery.error) == ("sent", 2, None)
    assert db.session.get(Run, run.id).status == "succeeded"  # follows its deliveries
    [(rcpts, message)] = mailbox.messages
    assert message["Message-ID"] == first_id == delivery.message_id


def test_starttls_with_auth(app, make_company, tmp_path, monkeypatch):
    ca_file, server_pem = make_ca_and_cert(tmp_path / "smtp-certs")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_pem)
    handler = Refusing()
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.login == b"herald" and
                          auth_data.password == b"mail-Pa55")

    controller = Controller(handler, hostname="127.0.0.1", port=free_port(),
                            tls_context=context, require_starttls=True,
                            authenticator=authenticator, auth_required=True)
    controller.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # trust the test CA, as a deployment would
    try:
        app.config["SMTP_URL"] = f"smtp+starttls://herald:mail-Pa55@127.0.0.1:{controller.port}"
        task = make_task(make_company(), ["a@acme.example"])
        run = new_run(task)
        run_report(run.id)
    finally:
        controller.stop()
    assert deliveries(run.id)["a@acme.example"].status == "sent"
    assert logins == [(b"herald", b"mail-Pa55")]
    assert [rcpts for rcpts, _ in handler.messages] == [["a@acme.example"]]


def test_sent_is_never_sent_again(app, smtp_app, make_company, mailbox, redis_conn):
    task = make_task(make_company(), ["a@acme.example", "b@acme.example"])
    run = new_run(task)
    ids = [d.id for d in (db.session.get(Run, run.id).deliveries or [])]
    assert ids == []

    # Two workers race for the first attempt of the same deliveries: one sends each.
    from jobs.runner import _build

    _build(db.session.get(Run, run.id), datetime.now(UTC))
    db.session.commit()  # the runner commits the build with the first delivery's claim
    ids = [d.id for d in db.session.get(Run, run.id).deliveries]
    barrier = threading.Barrier(2)
    outcomes = []

    def worker():
        with app.app_context():
            barrier.wait()
            for delivery_id in ids:
                outcomes.append(attempts.attempt(delivery_id, 1) is not None)
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == [False, False, True, True]
    assert sorted(r for rcpts, _ in mailbox.messages for r in rcpts) == [
        "a@acme.example", "b@acme.example"]

    # A restarted worker runs the whole job again: nothing is sent twice.
    db.session.expire_all()
    run = db.session.get(Run, run.id)
    run.status = "running"  # as a worker that died before finishing would have left it
    db.session.commit()
    run_report(run.id)
    assert len(mailbox.messages) == 2
    assert {d.status for d in deliveries(run.id).values()} == {"sent"}
    # Replayed retry jobs find nothing to claim; no due pass finds anything.
    for delivery_id in ids:
        assert attempts.deliver(delivery_id, 1) is None
        assert attempts.deliver(delivery_id, 2) is None
    assert attempts.enqueue_due(datetime.now(UTC) + timedelta(days=1), redis_conn) == []
    assert len(mailbox.messages) == 2


@pytest.mark.parametrize("statuses, expected", [
    ((), "succeeded"), (("sent", "sent"), "succeeded"), (("sent", "failed"), "partial"),
    (("sent", "sending"), "partial"),  # a retry in flight is not a success yet
    (("failed", "sending"), "failed"), (("failed",), "failed"),
])
def test_run_outcome_follows_its_deliveries(statuses, expected):
    from types import SimpleNamespace

    assert attempts.outcome([SimpleNamespace(status=s) for s in statuses]) == expected
