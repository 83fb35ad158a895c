"""Sending mail through ``SMTP_URL``, or into the built-in outbox when it is unset."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app

from webapp.extensions import db
from webapp.models import OutboxMessage

SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
TIMEOUT = 30


def send(message: EmailMessage, company_id: int | None, run_id: int | None = None) -> None:
    url = current_app.config.get("SMTP_URL")
    if not url:
        _to_outbox(message, company_id, run_id)
        return
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"SMTP_URL scheme must be one of {', '.join(SCHEMES)}")
    host, port = parts.hostname or "localhost", parts.port or SCHEMES[parts.scheme]
    context = ssl.create_default_context()
    if parts.scheme == "smtps":
        client = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=TIMEOUT)
    with client:
        if parts.scheme == "smtp+starttls":
            client.starttls(context=context)
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)


def _to_outbox(message: EmailMessage, company_id: int | None, run_id: int | None) -> None:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    db.session.add(OutboxMessage(
        company_id=company_id, to_addr=message["To"], from_addr=message["From"],
        subject=message["Subject"], message_id=message["Message-ID"], run_id=run_id,
        text_body=text.get_content() if text else "", html_body=html.get_content() if html else ""))
    db.session.flush()
