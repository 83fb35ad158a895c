"""Keys as people read them, as Jinja filters: pages show "WhatsApp", "Monday", "Catch-up",
never ``whatsapp``, ``mon`` or ``catch_up`` (the API keeps the keys); a task's catch-up
policy as the form offers it, a task option by the name its form field gives it (the form's
labels and the task's page both read TASK_OPTIONS), a date as "31 December 2031", an audit
event's details as readable JSON."""

from __future__ import annotations

import json

from flask import Flask, current_app

from jobs.reports.base import CHANNEL_NAMES
from jobs.schedule_words import WEEKDAY_NAMES

TRIGGERS = {"scheduled": "Scheduled", "catch_up": "Catch-up", "manual": "Run now",
            "test": "Test"}
DELIVERY_KINDS = {"email": "Email", "server": "Upload to server"}
CATCH_UP = {"combine": "One run covering everything missed",
            "each": "One run per missed time (at most {cap})"}
# A task option's name, as the task form labels its field and the task's page names it.
TASK_OPTIONS = {"inactivity_days": "Inactivity threshold, days", "org_unit_ids": "Org unit ids",
                "excel_bom": "Excel-friendly file (UTF-8 BOM)", "skip_empty": "Skip when empty",
                "gzip": "Compressed CSV (.csv.gz)", "spread_minutes": "Start within"}


def _word(table: dict[str, str]):
    return lambda key: table.get(key, key)


def _catch_up(key: str) -> str:
    return CATCH_UP.get(key, key).format(cap=current_app.config["CATCH_UP_MAX"])


def _day(value) -> str:
    """A date as "31 December 2031"."""
    return f"{value.day} {value:%B %Y}"


def _details(value) -> str:
    """An audit event's details as JSON text, as the CSV export writes them: "Zoë", "•••",
    never "Zo\\u00eb" (the template escapes it for HTML)."""
    return json.dumps(value, ensure_ascii=False) if value else ""


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        channel=_word(CHANNEL_NAMES), weekday=_word(WEEKDAY_NAMES), trigger=_word(TRIGGERS),
        delivery_kind=_word(DELIVERY_KINDS), option=_word(TASK_OPTIONS), catch_up=_catch_up,
        day=_day, details=_details)
