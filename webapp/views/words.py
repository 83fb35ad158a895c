"""Keys as people read them, as Jinja filters: pages show "WhatsApp", "Monday", "Catch-up",
never ``whatsapp``, ``mon`` or ``catch_up`` (the API keeps the keys)."""

from __future__ import annotations

from flask import Flask

from jobs.reports.base import CHANNEL_NAMES
from jobs.schedule_words import WEEKDAY_NAMES

TRIGGERS = {"scheduled": "Scheduled", "catch_up": "Catch-up", "manual": "Run now",
            "test": "Test"}
DELIVERY_KINDS = {"email": "Email", "server": "Upload to server"}


def _word(table: dict[str, str]):
    return lambda key: table.get(key, key)


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        channel=_word(CHANNEL_NAMES), weekday=_word(WEEKDAY_NAMES), trigger=_word(TRIGGERS),
        delivery_kind=_word(DELIVERY_KINDS))
