"""The report email: one message per recipient address, with a link to the run's page."""

from __future__ import annotations

import smtplib
from email import headerregistry
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app, render_template

from webapp.models import Run

from .. import schedule_words as words
from ..reports import registry
from . import mailer
from .base import DeliveryFailed, Destination, SendContext


class SharedHeaders(headerregistry.HeaderRegistry):
    """Parses headers as the default policy does. Those every report email has with the
    same value (MIME-Version, From, its parts' Content-Type and Content-Transfer-Encoding)
    are parsed once per process and shared: a parsed header is an immutable ``str``, which
    a message replaces (never changes) when it sets a parameter. Parsing them took a third
    of the time of composing a message and turning it into bytes."""

    SHARED = frozenset({"mime-version", "from", "content-type", "content-transfer-encoding"})
    KEPT = 64

    def __init__(self) -> None:
        super().__init__()
        self._parsed: dict[tuple[str, str], headerregistry.BaseHeader] = {}

    def __call__(self, name: str, value: str):
        key = (name.lower(), value)
        if key[0] not in self.SHARED or "boundary=" in value:  # a multipart's own
            return super().__call__(name, value)
        header = self._parsed.get(key)
        if header is None:
            if len(self._parsed) >= self.KEPT:  # MAIL_FROM changed many times: rare
                self._parsed.clear()
            header = self._parsed[key] = super().__call__(name, value)
        return header


POLICY = email_policy.default.clone(header_factory=SharedHeaders())


def run_url(run: Run) -> str:
    return f"{current_app.config['BASE_URL']}/runs/{run.id}"


def new_message_id() -> str:
    domain = current_app.config["MAIL_FROM"].rpartition("@")[2].rstrip(">") or "herald.local"
    return make_msgid("herald", domain=domain)


def compose(run: Run, address: str, message_id: str | None = None) -> EmailMessage:
    task, company = run.task, run.company
    rtype = registry.get(task.report_type)
    context = {
        "company": company, "task": task, "run": run, "report_name": rtype.name,
        "period": words.window(run.window_start, run.window_end, task.timezone, rtype.snapshot),
        "snapshot": rtype.snapshot, "link": run_url(run), "summary": run.summary or "",
    }
    message = EmailMessage(policy=POLICY)
    test = "Test: " if run.trigger == "test" else ""
    message["Subject"] = (f"[{company.name}] {test}{task.name}: {rtype.name}, "
                          f"{subject_period(run, rtype.snapshot)}")
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = address
    message["Message-ID"] = message_id or new_message_id()
    message.set_content(render_template("emails/report.txt", **context))
    message.add_alternative(render_template("emails/report.html", **context), subtype="html")
    return message


def subject_period(run: Run, snapshot: bool) -> str:
    """The period in the subject line: the window's ends (a snapshot's instant) in the
    task's time zone, named as in the body."""
    return words.window(run.window_start, run.window_end, run.task.timezone, snapshot)


def send_report_email(run: Run, address: str, message_id: str | None = None) -> str:
    message = compose(run, address, message_id)
    mailer.send(message, run.company_id, run_id=run.id)
    return message["Message-ID"]


class EmailDestination(Destination):
    """One message per address. The Message-ID is chosen (and recorded) before the first
    attempt, so a retry after an interrupted attempt carries the same one."""

    key = "email"
    kind = "email"

    def send(self, ctx: SendContext) -> str:
        try:
            return send_report_email(ctx.run, ctx.delivery.target, ctx.delivery.message_id)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reason = next(iter(exc.recipients.values()))
            raise DeliveryFailed(f"The mail server refused {ctx.delivery.target}: {code} "
                                 f"{_text(reason)}") from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"The mail server answered {exc.smtp_code} "
                                 f"{_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise DeliveryFailed(f"Sending mail failed: {type(exc).__name__}: {reason}") from None


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
