"""The task form's fields for how a task's series runs (docs/product.md §3, §4): its end date,
its catch-up policy after downtime, "start within N minutes", and the report's delivery
options "skip when empty" and "compressed CSV". Kept beside webapp/views/forms.py, which
calls these for its part of the form (template: tasks/_series_fields.html)."""

from __future__ import annotations

from datetime import date, datetime

from jobs import series

from ..models import Task

TEXT_FIELDS = ("ends_on", "catch_up", "spread_minutes")
CHECKS = ("skip_empty", "gzip")


def payload(form) -> tuple[dict, dict]:
    """(top-level fields, options) of the posted form in the API's task shape."""
    spread = (form.get("spread_minutes") or "0").strip()
    top = {"ends_on": (form.get("ends_on") or "").strip() or None,
           "catch_up": form.get("catch_up") or series.DEFAULT_CATCH_UP}
    options = {"spread_minutes": int(spread) if spread.isdigit() else spread,
               **{name: form.get(name) == "1" for name in CHECKS}}
    return top, options


def values_of(task: Task | None) -> dict:
    """The fields of a new task, or of the task being edited."""
    options = (task.options or {}) if task is not None else {}
    return {"ends_on": task.ends_on.isoformat() if task is not None and task.ends_on else "",
            "catch_up": task.catch_up if task is not None else series.DEFAULT_CATCH_UP,
            "spread_minutes": str(options.get("spread_minutes") or 0),
            **{name: bool(options.get(name)) for name in CHECKS}}


def values_from(form) -> dict:
    """The fields as posted, to show again."""
    return {**{name: form.get(name, "") for name in TEXT_FIELDS},
            **{name: form.get(name) == "1" for name in CHECKS}}


def ends_at(values: dict, timezone: str) -> datetime | None:
    """The end of the form's end date, for the preview (None: none, or not a date yet)."""
    try:
        return series.end_instant(date.fromisoformat(values.get("ends_on") or ""), timezone)
    except (ValueError, OverflowError):
        return None


def ends_label(task: Task, today: date) -> str | None:
    """"ends 31 Dec" for the task list (with the year when it is not this year's)."""
    if task.ends_on is None:
        return None
    day = f"{task.ends_on.day} {task.ends_on:%b}"
    return f"ends {day}" if task.ends_on.year == today.year else f"ends {day} {task.ends_on.year}"
