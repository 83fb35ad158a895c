"""A worker keeps its SMTP connection between messages (jobs/delivery/mailer.py): one
connection for many messages, checked (NOOP) only after it was idle; a connection the server
closed is replaced, and a message it refused for that at MAIL FROM goes once on the new one;
any other failed send closes it and is not sent again."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from jobs.delivery import mailer
from jobs.embedded_redis import free_port


class CountingSink:
    """Keeps each message and counts the SMTP sessions (one per connection) and NOOPs.
    ``mail_421``: the next so many MAIL FROM are answered 421 (the server closing the
    connection); ``hang_up_at_rcpt``: the server closes the connection at the next RCPT TO;
    ``refuse``: a recipient whose messages are refused at DATA."""

    def __init__(self) -> None:
        self.sessions, self.messages, self.refuse = 0, [], ""
        self.noops, self.mail_421, self.hang_up_at_rcpt = 0, 0, False
        self.servers: list = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.sessions += 1
        self.servers.append(server)
        session.host_name = hostname
        return responses

    async def handle_NOOP(self, server, session, envelope, arg):  # noqa: N802
        self.noops += 1
        return "250 OK"

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802
        if self.mail_421:
            self.mail_421 -= 1
            return "421 4.3.2 Service shutting down and closing transmission channel"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if self.hang_up_at_rcpt:
            self.hang_up_at_rcpt = False
            server.transport.close()
            return "421 4.3.2 Closing"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.refuse and self.refuse in envelope.rcpt_tos:
            return "554 Transaction failed"
        self.messages.append(tuple(envelope.rcpt_tos))
        return "250 OK"


def message(to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "herald@acme.example", to, "Report"
    msg.set_content("Hello")
    return msg


@pytest.fixture
def kept(app):
    mailer.keep_open()
    yield
    mailer.keep_open(False)


def serve(sink: CountingSink, port: int) -> Controller:
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


@pytest.fixture
def smtp(app):
    """A counting SMTP server on a free port, Herald's SMTP_URL: (its sink, its controller)."""
    port = free_port()
    sink = CountingSink()
    controller = serve(sink, port)
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    yield sink, controller
    controller.stop()


def test_one_connection_serves_many_messages_and_a_closed_one_is_replaced(app, kept):
    port = free_port()
    sink = CountingSink()
    controller = serve(sink, port)
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    try:
        for n in range(3):
            mailer.send(message(f"r{n}@acme.example"), None)
        assert sink.sessions == 1 and len(sink.messages) == 3
    finally:
        controller.stop()  # the server goes away, closing the kept connection
    sink = CountingSink()
    controller = serve(sink, port)
    try:
        mailer.send(message("again@acme.example"), None)
        assert sink.messages == [("again@acme.example",)] and sink.sessions == 1
    finally:
        controller.stop()


def test_a_connection_in_use_is_checked_only_after_it_was_idle(smtp, kept, monkeypatch):
    sink, _ = smtp
    for n in range(3):
        mailer.send(message(f"r{n}@acme.example"), None)
    assert sink.noops == 0  # one message after the other: no check
    monkeypatch.setattr(mailer, "IDLE_CHECK", 0.01)
    time.sleep(0.05)
    mailer.send(message("later@acme.example"), None)
    assert sink.noops == 1 and sink.sessions == 1 and len(sink.messages) == 4


def hang_up(controller: Controller, sink: CountingSink) -> None:
    """The server closes its side of every connection, as at the end of its idle timeout."""
    for server in sink.servers:
        controller.loop.call_soon_threadsafe(server.transport.close)
    time.sleep(0.1)


def test_a_connection_the_server_closed_while_idle_sends_the_next_message_once(smtp, kept):
    sink, controller = smtp
    mailer.send(message("first@acme.example"), None)
    hang_up(controller, sink)  # not checked before use (not idle long enough)
    mailer.send(message("second@acme.example"), None)
    assert sink.messages == [("first@acme.example",), ("second@acme.example",)]
    assert (sink.sessions, sink.noops) == (2, 0)


def test_a_421_at_mail_from_on_a_kept_connection_sends_it_once_on_a_new_one(smtp, kept):
    sink, _ = smtp
    mailer.send(message("first@acme.example"), None)
    sink.mail_421 = 1  # the kept connection's server is closing it
    mailer.send(message("second@acme.example"), None)
    assert sink.messages == [("first@acme.example",), ("second@acme.example",)]
    assert sink.sessions == 2
    sink.mail_421 = 2  # and again on the new connection: it fails, tried once more only
    with pytest.raises(mailer.smtplib.SMTPSenderRefused):
        mailer.send(message("third@acme.example"), None)
    assert sink.sessions == 3 and len(sink.messages) == 2
    sink.mail_421 = 1  # a new connection that refuses is not tried again
    with pytest.raises(mailer.smtplib.SMTPSenderRefused):
        mailer.send(message("fourth@acme.example"), None)
    assert sink.sessions == 4 and len(sink.messages) == 2


def test_a_connection_lost_after_mail_from_is_not_sent_again(smtp, kept):
    sink, _ = smtp
    mailer.send(message("first@acme.example"), None)
    sink.hang_up_at_rcpt = True  # MAIL FROM was accepted: its failure is the delivery's
    with pytest.raises(mailer.smtplib.SMTPException):
        mailer.send(message("second@acme.example"), None)
    assert sink.sessions == 1 and sink.messages == [("first@acme.example",)]
    mailer.send(message("third@acme.example"), None)
    assert sink.sessions == 2 and len(sink.messages) == 2


def test_a_failed_send_raises_closes_the_connection_and_sends_nothing_twice(smtp, kept):
    sink, _ = smtp
    sink.refuse = "bad@acme.example"
    with pytest.raises(mailer.smtplib.SMTPDataError):
        mailer.send(message("bad@acme.example"), None)
    mailer.send(message("good@acme.example"), None)
    assert sink.messages == [("good@acme.example",)]
    assert sink.sessions == 2  # a new connection after the failure


def test_without_keep_open_each_message_has_its_connection(smtp):
    sink, _ = smtp
    mailer.send(message("a@acme.example"), None)
    mailer.send(message("b@acme.example"), None)
    assert sink.sessions == 2 and len(sink.messages) == 2
