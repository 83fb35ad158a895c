"""Sending mail through ``SMTP_URL``, or into the built-in outbox when it is unset.

A worker keeps its SMTP connection open from one message to the next (``keep_open()``): a
report email then costs one message, not a TCP connect, EHLO, STARTTLS and login. Before a
kept connection is used it is checked (NOOP); one the server has closed is replaced. A send
that fails closes the connection and raises, as a first send would: the message is never
sent a second time here (the delivery's retry resends it, with its Message-ID).
"""

from __future__ import annotations

import smtplib
import ssl
import threading
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app

from webapp.extensions import db
from webapp.models import OutboxMessage

SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
TIMEOUT = 30

_kept = threading.local()  # .url, .client: this thread's open connection (keep_open())
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
    client = _kept_client(url)
    try:
        client.send_message(message)
    except BaseException:
        close()  # its state is unknown: the next message gets a new connection
        raise


def close() -> None:
    """Close this thread's kept connection, if any."""
    client, _kept.client, _kept.url = getattr(_kept, "client", None), None, None
    if client is not None:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _kept_client(url: str) -> smtplib.SMTP:
    client = getattr(_kept, "client", None)
    if client is not None and _kept.url == url:
        try:
            if client.noop()[0] == 250:
                return client
        except (smtplib.SMTPException, OSError):
            pass
    close()
    _kept.client, _kept.url = _connect(url), url
    return _kept.client


def _connect(url: str) -> smtplib.SMTP:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"SMTP_URL scheme must be one of {', '.join(SCHEMES)}")
    host, port = parts.hostname or "localhost", parts.port or SCHEMES[parts.scheme]
    context = ssl.create_default_context()
    if parts.scheme == "smtps":
        client = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=TIMEOUT)
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
