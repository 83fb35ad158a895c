"""A worker keeps its SMTP connection between messages (jobs/delivery/mailer.py): one
connection for many messages; a connection the server closed is replaced before use; a
failed send closes it and is not sent again."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from jobs.delivery import mailer
from jobs.embedded_redis import free_port


class CountingSink:
    """Keeps each message and counts the SMTP sessions (one per connection)."""

    def __init__(self, refuse: str = "") -> None:
        self.sessions, self.messages, self.refuse = 0, [], refuse

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.sessions += 1
        session.host_name = hostname
        return responses

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


def test_a_failed_send_raises_closes_the_connection_and_sends_nothing_twice(app, kept):
    port = free_port()
    sink = CountingSink(refuse="bad@acme.example")
    controller = serve(sink, port)
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    try:
        with pytest.raises(mailer.smtplib.SMTPDataError):
            mailer.send(message("bad@acme.example"), None)
        mailer.send(message("good@acme.example"), None)
        assert sink.messages == [("good@acme.example",)]
        assert sink.sessions == 2  # a new connection after the failure
    finally:
        controller.stop()


def test_without_keep_open_each_message_has_its_connection(app):
    port = free_port()
    sink = CountingSink()
    controller = serve(sink, port)
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    try:
        mailer.send(message("a@acme.example"), None)
        mailer.send(message("b@acme.example"), None)
        assert sink.sessions == 2 and len(sink.messages) == 2
    finally:
        controller.stop()
