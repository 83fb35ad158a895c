"""Sending mail through ``SMTP_URL``, or into the built-in outbox when it is unset.

A worker keeps its SMTP connection open from one message to the next (``keep_open()``): a
report email then costs one message, not a TCP connect, EHLO, STARTTLS and login. A kept
connection idle for more than ``IDLE_CHECK`` seconds is checked (NOOP) before it is used,
and replaced if the server has closed it. One closed sooner (a server restarted, or one with
a short idle timeout) shows it at the message's first command, MAIL FROM: the server has
hung up or answers 421. Nothing of the message has gone then, so it is sent on a new
connection, once. Any other failed send closes the connection and raises, as a first send
would: a message whose MAIL FROM was accepted is never sent a second time here (the
delivery's retry resends it, with its Message-ID).
"""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app

from webapp.extensions import db
from webapp.models import OutboxMessage

SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
TIMEOUT = 30
IDLE_CHECK = 10.0  # seconds: a kept connection idle for longer is checked before use

_kept = threading.local()  # .url, .client, .idle_since: this thread's open connection
_keeping = False


def keep_open(keep: bool = True) -> None:
    """From now on this process reuses its SMTP connections (a worker; off by default, so a
    web process holds none open between requests)."""
    global _keeping
    _keeping = keep
    if not keep:
        close()


def send(message: EmailMessage, company_id: int | None, run_id: int | None = None) -> None:
    url = current_app.config.get("SMTP_URL")
    if not url:
        _to_outbox(message, company_id, run_id)
        return
    if not _keeping:
        with _connect(url) as client:
            client.send_message(message)
        return
    client, kept = _kept_client(url)
    try:
        _send(client, message)
    except BaseException as exc:
        close()  # its state is unknown: the next message gets a new connection
        if not (kept and _hung_up_before_mail(client, exc)):
            raise
        client, _ = _kept_client(url)  # a new one: nothing of the message has gone yet
        try:
            _send(client, message)
        except BaseException:
            close()
            raise
    _kept.idle_since = time.monotonic()


def _send(client: smtplib.SMTP, message: EmailMessage) -> None:
    client.mail_accepted = False
    client.send_message(message)


def _hung_up_before_mail(client: smtplib.SMTP, exc: BaseException) -> bool:
    """The server closed the connection (or says it is closing it: 421) by the message's
    first command, MAIL FROM, which it did not accept: nothing of the message has gone."""
    closed = isinstance(exc, smtplib.SMTPServerDisconnected) or (
        isinstance(exc, smtplib.SMTPSenderRefused) and exc.smtp_code == 421)
    return closed and not client.mail_accepted


def close() -> None:
    """Close this thread's kept connection, if any."""
    client, _kept.client, _kept.url = getattr(_kept, "client", None), None, None
    if client is not None:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _kept_client(url: str) -> tuple[smtplib.SMTP, bool]:
    """This thread's connection to ``url``, and whether it was kept from an earlier message
    (False: just made)."""
    client = getattr(_kept, "client", None)
    if client is not None and _kept.url == url:
        if time.monotonic() - _kept.idle_since <= IDLE_CHECK:
            return client, True
        try:
            if client.noop()[0] == 250:
                return client, True
        except (smtplib.SMTPException, OSError):
            pass
    close()
    _kept.client, _kept.url = _connect(url), url
    _kept.idle_since = time.monotonic()
    return _kept.client, False


class _Tracked:
    """An SMTP client that knows whether the server accepted the current message's MAIL
    FROM (smtplib's ``sendmail`` sends MAIL FROM, then RCPT TO, then DATA)."""

    mail_accepted = False

    def mail(self, sender, options=()):  # the flag is reset before each message (_send)
        reply = super().mail(sender, options)
        self.mail_accepted = reply[0] == 250
        return reply


class _SMTP(_Tracked, smtplib.SMTP):
    pass


class _SMTPSSL(_Tracked, smtplib.SMTP_SSL):
    pass


def _connect(url: str) -> smtplib.SMTP:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"SMTP_URL scheme must be one of {', '.join(SCHEMES)}")
    host, port = parts.hostname or "localhost", parts.port or SCHEMES[parts.scheme]
    context = ssl.create_default_context()
    if parts.scheme == "smtps":
        client = _SMTPSSL(host, port, timeout=TIMEOUT, context=context)
    else:
        client = _SMTP(host, port, timeout=TIMEOUT)
    try:
        if parts.scheme == "smtp+starttls":
            client.starttls(context=context)
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
    except BaseException:
        client.close()
        raise
    return client


def _to_outbox(message: EmailMessage, company_id: int | None, run_id: int | None) -> None:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    db.session.add(OutboxMessage(
        company_id=company_id, to_addr=message["To"], from_addr=message["From"],
        subject=message["Subject"], message_id=message["Message-ID"], run_id=run_id,
        text_body=text.get_content() if text else "", html_body=html.get_content() if html else ""))
    db.session.flush()
