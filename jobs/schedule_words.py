"""Schedules in words, for pages and emails (the math itself is jobs/schedule.py)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from .schedule import LAST_DAY, WEEKDAYS, Schedule

WEEKDAY_NAMES = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                    "Saturday", "Sunday"), strict=True))


def describe(schedule: Schedule) -> str:
    """The schedule in words, for lists and emails."""
    at = schedule.time.strftime("%H:%M")
    if schedule.kind == "daily":
        text = f"Every day at {at}"
    elif schedule.kind == "hourly":
        text = ("Every hour" if schedule.every == 1 else f"Every {schedule.every} hours")
        text += f" starting at {at}"
    elif schedule.kind == "weekly":
        text = f"Every {WEEKDAY_NAMES[WEEKDAYS[schedule.weekday]]} at {at}"
    else:
        months = "month" if schedule.every == 1 else f"{schedule.every} months"
        day = "the last day" if schedule.day == LAST_DAY else f"day {schedule.day}"
        text = f"Every {months} on {day} at {at}"
    return f"{text} ({schedule.timezone})"


def instant(value: datetime, timezone: str) -> str:
    """An instant as people read it in a time zone: "Mon 30 Nov 2026 06:30"."""
    local = value.astimezone(ZoneInfo(timezone))
    return f"{local:%a} {local.day} {local:%b %Y %H:%M}"


def window(start: datetime, end: datetime, timezone: str, snapshot: bool = False) -> str:
    """A run's window (or a snapshot's instant) in its task's time zone, no seconds:
    "Mon 30 Nov 2026 06:30 – Tue 1 Dec 2026 06:30 (Europe/London)"."""
    if snapshot:
        return f"snapshot of {instant(end, timezone)} ({timezone})"
    return f"{instant(start, timezone)} – {instant(end, timezone)} ({timezone})"


def span(start: datetime, end: datetime, timezone: str) -> str:
    """A window as people say it, in a time zone: "29 Nov 06:30 → 10:30" (one day),
    "29 Nov 06:30 → 30 Nov 06:30", with the years when they differ."""
    zone = ZoneInfo(timezone)
    first, last = start.astimezone(zone), end.astimezone(zone)
    years = first.year != last.year
    begin = f"{first.day} {first:%b}{f' {first.year}' if years else ''} {first:%H:%M}"
    if first.date() == last.date():
        return f"{begin} → {last:%H:%M}"
    return f"{begin} → {last.day} {last:%b}{f' {last.year}' if years else ''} {last:%H:%M}"
