"""Schedule math, pure: a schedule → its run instants and windows (SPEC §3).

No database, no Redis, no clock: every function takes the instants it needs. Local times are
read with ``zoneinfo`` and ``fold=0`` (a missing wall-clock time moves forward by the gap, a
repeated one means its first occurrence), then equal instants are merged into one run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

KINDS = ("daily", "hourly", "weekly", "monthly")
HOURLY_EVERY = (1, 2, 3, 4, 6, 12)
MONTHLY_EVERY = tuple(range(1, 13))
MONTHLY_DAYS = tuple(range(1, 29))
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ScheduleError(ValueError):
    """Invalid schedule values; ``fields`` maps each field to its message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class Schedule:
    kind: str
    time: time
    timezone: str
    every: int | None = None  # hourly: hours; monthly: months
    weekday: int | None = None  # weekly: 0 = Monday
    day: int | None = None  # monthly: day of month

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def as_dict(self) -> dict:
        data: dict = {"kind": self.kind, "time": self.time.strftime("%H:%M"),
                      "timezone": self.timezone}
        if self.kind in ("hourly", "monthly"):
            data["every"] = self.every
        if self.kind == "weekly":
            data["weekday"] = WEEKDAYS[self.weekday]
        if self.kind == "monthly":
            data["day"] = self.day
        return data


@dataclass(frozen=True)
class Window:
    run_at: datetime
    start: datetime
    end: datetime


def is_timezone(name: str) -> bool:
    if not name or name != name.strip():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def timezone_names() -> list[str]:
    return sorted(n for n in available_timezones() if "/" in n or n == "UTC")


def parse(data: dict, default_timezone: str) -> Schedule:
    """Validate a schedule mapping (API/form shape); raise ScheduleError naming each field."""
    errors: dict[str, str] = {}
    kind = data.get("kind")
    if kind not in KINDS:
        errors["kind"] = f"Schedule kind must be one of {', '.join(KINDS)}."
        raise ScheduleError(errors)

    at = None
    raw_time = data.get("time")
    match = _TIME.match(raw_time) if isinstance(raw_time, str) else None
    if match:
        at = time(int(match.group(1)), int(match.group(2)))
    else:
        errors["time"] = "Time must be a 24-hour time hh:mm, e.g. 06:30."

    tz = data.get("timezone") or default_timezone
    if not isinstance(tz, str) or not is_timezone(tz):
        errors["timezone"] = "Time zone must be an IANA name such as Europe/London."

    every = weekday = day = None
    if kind == "hourly":
        every = _int_in(data.get("every"), HOURLY_EVERY)
        if every is None:
            errors["every"] = "Every X hours must be one of 1, 2, 3, 4, 6, 12."
    elif kind == "monthly":
        every = _int_in(data.get("every", 1), MONTHLY_EVERY)
        if every is None:
            errors["every"] = "Every X months must be a whole number from 1 to 12."
        day = _int_in(data.get("day"), MONTHLY_DAYS)
        if day is None:
            errors["day"] = "Day of month must be a whole number from 1 to 28."
    elif kind == "weekly":
        raw = data.get("weekday")
        if isinstance(raw, str) and raw.lower() in WEEKDAYS:
            weekday = WEEKDAYS.index(raw.lower())
        else:
            errors["weekday"] = f"Weekday must be one of {', '.join(WEEKDAYS)}."
    if errors:
        raise ScheduleError(errors)
    return Schedule(kind=kind, time=at, timezone=tz, every=every, weekday=weekday, day=day)


def _int_in(value, allowed: tuple[int, ...]) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and value in allowed else None


# -- the sequence of instants -------------------------------------------------------------

def _instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)  # fold=0


def _month_add(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def monthly_anchor(schedule: Schedule, series_start: datetime) -> tuple[int, int]:
    """(year, month) of the first day-dd-at-hh:mm strictly after the series started."""
    local = series_start.astimezone(schedule.tz)
    year, month = local.year, local.month
    while True:
        candidate = _instant(date(year, month, schedule.day), schedule.time, schedule.tz)
        if candidate > series_start:
            return year, month
        year, month = _month_add(year, month, 1)


def _local_days(schedule: Schedule, first: date, last: date) -> Iterator[datetime]:
    """Candidate instants of the daily/hourly/weekly kinds on local days first..last."""
    tz = schedule.tz
    if schedule.kind == "hourly":
        minutes = schedule.time.hour * 60 + schedule.time.minute
        times = sorted(
            time(((minutes + k * schedule.every * 60) // 60) % 24, minutes % 60)
            for k in range(24 // schedule.every)
        )
    else:
        times = [schedule.time]
    day = first
    while day <= last:
        if schedule.kind != "weekly" or day.weekday() == schedule.weekday:
            for at in times:
                yield _instant(day, at, tz)
        day += timedelta(days=1)


def _candidates(schedule: Schedule, around: datetime, series_start: datetime | None,
                forward: bool) -> Iterator[datetime]:
    """Candidate instants in chronological order (forward) or reverse, near ``around``."""
    if schedule.kind == "monthly":
        if series_start is None:
            raise ValueError("a monthly schedule needs the start of its series")
        y0, m0 = monthly_anchor(schedule, series_start)
        local = around.astimezone(schedule.tz)
        offset = (local.year * 12 + local.month - 1) - (y0 * 12 + m0 - 1)
        k = offset // schedule.every + (-1 if forward else 1)
        step = 1 if forward else -1
        while True:
            year, month = _month_add(y0, m0, k * schedule.every)
            yield _instant(date(year, month, schedule.day), schedule.time, schedule.tz)
            k += step
    span = 8 if schedule.kind == "weekly" else 2
    local_day = around.astimezone(schedule.tz).date()
    if forward:
        first = local_day - timedelta(days=1)
        while True:
            yield from _local_days(schedule, first, first + timedelta(days=span - 1))
            first += timedelta(days=span)
    else:
        last = local_day + timedelta(days=1)
        while True:
            chunk = list(_local_days(schedule, last - timedelta(days=span - 1), last))
            yield from reversed(chunk)
            last -= timedelta(days=span)


def next_after(schedule: Schedule, after: datetime,
               series_start: datetime | None = None) -> datetime:
    """The first instant of the sequence strictly after ``after``."""
    best = None
    for candidate in _candidates(schedule, after, series_start, forward=True):
        if candidate > after:
            if best is None or candidate < best:
                best = candidate
            # fold=0 keeps the sequence non-decreasing except inside a DST gap: look one more.
            elif candidate > best + timedelta(hours=3):
                break
        if best is not None and candidate > best + timedelta(hours=3):
            break
    return best


def previous_before(schedule: Schedule, before: datetime,
                    series_start: datetime | None = None) -> datetime:
    """The last instant of the sequence strictly before ``before``."""
    best = None
    for candidate in _candidates(schedule, before, series_start, forward=False):
        if candidate < before:
            if best is None or candidate > best:
                best = candidate
        if best is not None and candidate < best - timedelta(hours=3):
            break
    return best


def first_run(schedule: Schedule, series_start: datetime) -> datetime:
    """The first instant of a series (re)activated at ``series_start``."""
    return next_after(schedule, series_start, series_start)


def upcoming(schedule: Schedule, after: datetime, count: int = 5,
             series_start: datetime | None = None) -> list[Window]:
    """The next ``count`` runs after ``after`` with their nominal windows."""
    series_start = series_start or after
    runs: list[Window] = []
    at = next_after(schedule, after, series_start)
    start = previous_before(schedule, at, series_start)
    for _ in range(count):
        runs.append(Window(run_at=at, start=start, end=at))
        start, at = at, next_after(schedule, at, series_start)
    return runs


def describe(schedule: Schedule) -> str:
    """The schedule in words, for lists and emails."""
    at = schedule.time.strftime("%H:%M")
    if schedule.kind == "daily":
        text = f"Every day at {at}"
    elif schedule.kind == "hourly":
        text = ("Every hour" if schedule.every == 1 else f"Every {schedule.every} hours")
        text += f" starting at {at}"
    elif schedule.kind == "weekly":
        names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
        text = f"Every {names[schedule.weekday]} at {at}"
    else:
        months = "month" if schedule.every == 1 else f"{schedule.every} months"
        text = f"Every {months} on day {schedule.day} at {at}"
    return f"{text} ({schedule.timezone})"
