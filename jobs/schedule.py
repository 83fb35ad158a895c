"""Schedule math, pure: a schedule → its run instants and windows (docs/product.md §3).

No database, no Redis, no clock: every function takes the instants it needs. Local times are
read with ``zoneinfo`` and ``fold=0`` (a missing wall-clock time moves forward by the gap, a
repeated one means its first occurrence), then equal instants are merged into one run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, available_timezones

KINDS = ("daily", "hourly", "weekly", "monthly")
HOURLY_EVERY = (1, 2, 3, 4, 6, 12)
MONTHLY_EVERY = tuple(range(1, 13))
MONTHLY_DAYS = tuple(range(1, 29))
LAST_DAY = -1  # monthly day "last": the month's last day (28–31); stored as -1
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIME_PATTERN = r"^([01]\d|2[0-3]):([0-5]\d)$"
_TIME = re.compile(TIME_PATTERN)


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
    day: int | None = None  # monthly: day of month, or LAST_DAY

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
            data["day"] = "last" if self.day == LAST_DAY else self.day
        return data


def of(row) -> Schedule:
    """The schedule stored in a row's ``schedule_*`` and ``timezone`` columns (a task)."""
    hour, minute = (int(x) for x in row.schedule_time.split(":"))
    return Schedule(kind=row.schedule_kind, time=time(hour, minute), timezone=row.timezone,
                    every=row.schedule_every, weekday=row.schedule_weekday,
                    day=row.schedule_day)


def columns(schedule: Schedule) -> dict:
    """The column values that store ``schedule`` in a row (the reverse of :func:`of`)."""
    return {"schedule_kind": schedule.kind, "schedule_time": schedule.time.strftime("%H:%M"),
            "schedule_every": schedule.every, "schedule_weekday": schedule.weekday,
            "schedule_day": schedule.day, "timezone": schedule.timezone}


@dataclass(frozen=True)
class Window:
    run_at: datetime
    start: datetime
    end: datetime


_NOT_ZONES = {"localtime", "Factory", "posixrules"}  # system files, not IANA zone names


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones() - _NOT_ZONES)


def is_timezone(name: str) -> bool:
    """An IANA time zone name known to ``zoneinfo`` (the ``tzdata`` package on any OS)."""
    return isinstance(name, str) and name in _known_zones()


def all_timezone_names() -> list[str]:  # every name is_timezone accepts (the API's list)
    return sorted(_known_zones())


def timezone_names() -> list[str]:
    return sorted(n for n in _known_zones() if "/" in n or n == "UTC")


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
        raw = data.get("day")
        last = isinstance(raw, str) and raw.strip().lower() == "last"
        day = LAST_DAY if last else _int_in(raw, MONTHLY_DAYS)
        if day is None:
            errors["day"] = 'Day of month must be a whole number from 1 to 28, or "last".'
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

@lru_cache(maxsize=1 << 16)
def _instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)  # fold=0


def _month_add(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def month_day(schedule: Schedule, year: int, month: int) -> date:
    """The run's day in that month: day dd, or the month's last day."""
    if schedule.day != LAST_DAY:
        return date(year, month, schedule.day)
    next_year, next_month = _month_add(year, month, 1)
    return date(next_year, next_month, 1) - timedelta(days=1)


def monthly_anchor(schedule: Schedule, series_start: datetime) -> tuple[int, int]:
    """(year, month) of the first day-dd-at-hh:mm strictly after the series started."""
    local = series_start.astimezone(schedule.tz)
    year, month = local.year, local.month
    while True:
        candidate = _instant(month_day(schedule, year, month), schedule.time, schedule.tz)
        if candidate > series_start:
            return year, month
        year, month = _month_add(year, month, 1)


# Every UTC offset ever used lies within ±_REACH (today -12 h … +14 h; old local mean times
# reached ±15:56), so a wall-clock time on local day d is an instant within
# [d 00:00 - _REACH, d 24:00 + _REACH] read as UTC. That bound makes the searches exact.
_REACH = timedelta(hours=16)
_DAY = timedelta(days=1)


def _times_of_day(schedule: Schedule) -> list[time]:
    if schedule.kind != "hourly":
        return [schedule.time]
    minutes = schedule.time.hour * 60 + schedule.time.minute
    return sorted(time((minutes // 60 + k * schedule.every) % 24, minutes % 60)
                  for k in range(24 // schedule.every))


def _day_instants(schedule: Schedule, day: date, times: list[time]) -> list[datetime]:
    if schedule.kind == "weekly" and day.weekday() != schedule.weekday:
        return []
    return [_instant(day, at, schedule.tz) for at in times]


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("schedule instants must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None)


def _monthly_index(schedule: Schedule, moment: datetime, anchor: tuple[int, int]) -> int:
    """The k of a month m0 + k·X at or before ``moment``'s month (in the schedule's zone)."""
    local = moment.astimezone(schedule.tz)
    offset = (local.year * 12 + local.month - 1) - (anchor[0] * 12 + anchor[1] - 1)
    return offset // schedule.every


def _monthly_instant(schedule: Schedule, anchor: tuple[int, int], k: int) -> datetime:
    year, month = _month_add(anchor[0], anchor[1], k * schedule.every)
    return _instant(month_day(schedule, year, month), schedule.time, schedule.tz)


def _anchor(schedule: Schedule, series_start: datetime | None) -> tuple[int, int]:
    if series_start is None:
        raise ValueError("a monthly schedule needs the start of its series")
    return monthly_anchor(schedule, series_start)


@lru_cache(maxsize=1 << 14)  # pure: many tasks share a schedule and are due together
def next_after(schedule: Schedule, after: datetime,
               series_start: datetime | None = None) -> datetime:
    """The first instant of the sequence strictly after ``after`` (always exists).

    Wall-clock candidates are not always in time order (a time inside a DST gap moves
    forward, possibly past a later candidate), so every local day that could still hold an
    earlier instant is looked at before answering.
    """
    if schedule.kind == "monthly":  # whole months apart: candidates are in time order
        anchor = _anchor(schedule, series_start)
        k = _monthly_index(schedule, after, anchor)
        while _monthly_instant(schedule, anchor, k) > after:
            k -= 1
        while (candidate := _monthly_instant(schedule, anchor, k)) <= after:
            k += 1
        return candidate
    times = _times_of_day(schedule)
    bound = _naive_utc(after)
    day = (bound - _DAY - _REACH).date()  # the first day whose instants can be after it
    best: datetime | None = None
    # Stop once a day's earliest possible instant is past the best found (every kind has an
    # instant at least weekly, so one is found).
    while best is None or datetime.combine(day, time()) - _REACH <= _naive_utc(best):
        for candidate in _day_instants(schedule, day, times):
            if candidate > after and (best is None or candidate < best):
                best = candidate
        day += timedelta(days=1)
    return best


@lru_cache(maxsize=1 << 14)
def previous_before(schedule: Schedule, before: datetime,
                    series_start: datetime | None = None) -> datetime:
    """The last instant of the sequence strictly before ``before`` (always exists)."""
    if schedule.kind == "monthly":
        anchor = _anchor(schedule, series_start)
        k = _monthly_index(schedule, before, anchor)
        while _monthly_instant(schedule, anchor, k) < before:
            k += 1
        while (candidate := _monthly_instant(schedule, anchor, k)) >= before:
            k -= 1
        return candidate
    times = _times_of_day(schedule)
    bound = _naive_utc(before)
    day = (bound + _REACH).date()  # the last day whose instants can be before it
    best: datetime | None = None
    while best is None or datetime.combine(day, time()) + _DAY + _REACH >= _naive_utc(best):
        for candidate in _day_instants(schedule, day, times):
            if candidate < before and (best is None or candidate > best):
                best = candidate
        day -= timedelta(days=1)
    return best


def first_run(schedule: Schedule, series_start: datetime) -> datetime:
    """The first instant of a series (re)activated at ``series_start``."""
    return next_after(schedule, series_start, series_start)
