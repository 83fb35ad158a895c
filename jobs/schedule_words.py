"""Schedules in words, for pages and emails (the math itself is jobs/schedule.py)."""

from __future__ import annotations

from .schedule import WEEKDAYS, Schedule

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
        text = f"Every {months} on day {schedule.day} at {at}"
    return f"{text} ({schedule.timezone})"
