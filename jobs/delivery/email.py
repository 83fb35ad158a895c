"""The report email: one message per recipient address, with a link to the run's page."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from zoneinfo import ZoneInfo

from flask import current_app, render_template

from webapp.models import Run

from ..reports import registry
from . import mailer


def run_url(run: Run) -> str:
    return f"{current_app.config['BASE_URL']}/runs/{run.id}"


def compose(run: Run, address: str) -> EmailMessage:
    task, company = run.task, run.company
    tz = ZoneInfo(task.timezone)
    rtype = registry.get(task.report_type)
    context = {
        "company": company, "task": task, "run": run, "report_name": rtype.name,
        "window_start": run.window_start.astimezone(tz),
        "window_end": run.window_end.astimezone(tz),
        "snapshot": rtype.snapshot, "link": run_url(run), "summary": run.summary or "",
    }
    message = EmailMessage()
    message["Subject"] = f"[{company.name}] {task.name}: {rtype.name}"
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = address
    domain = current_app.config["MAIL_FROM"].rpartition("@")[2].rstrip(">") or "herald.local"
    message["Message-ID"] = make_msgid("herald", domain=domain)
    message.set_content(render_template("emails/report.txt", **context))
    message.add_alternative(render_template("emails/report.html", **context), subtype="html")
    return message


def send_report_email(run: Run, address: str) -> str:
    message = compose(run, address)
    mailer.send(message, run.company_id)
    return message["Message-ID"]
