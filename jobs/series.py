"""A task's series of runs, beyond the schedule's instants: its end date, catching up after
downtime, the runs a preview shows (docs/product.md §3, §4).

Pure, like jobs/schedule.py: no database, no Redis, no clock; every instant is passed in.
Every window is (previous instant, instant]: the runs made here start exactly where the
previous one ended, whatever the policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .schedule import Schedule, Window, next_after, previous_before


def spread_of(task) -> timedelta:
    """How long after its instant the task's scheduled runs start: its option "start
    within N minutes" spreads a company's tasks over those minutes, each task at its own
    fixed offset (the windows do not move)."""
    minutes = (task.options or {}).get("spread_minutes") or 0
    return timedelta(seconds=(task.id * 2654435761) % (minutes * 60)) if minutes else \
        timedelta(0)


def planned_release(scheduled_for: datetime, task) -> datetime:
    """When a scheduled run is meant to start: its instant plus the task's spread (the
    dispatcher holds its job until then)."""
    return scheduled_for + spread_of(task)


CATCH_UP_POLICIES = ("combine", "each")
DEFAULT_CATCH_UP = "combine"


def end_instant(ends_on: date | None, timezone: str) -> datetime | None:
    """When ``ends_on`` ends in the zone: the next day's 00:00 (read with ``fold=0``), in UTC.
    An instant at or before it may run; none after it does."""
    if ends_on is None:
        return None
    midnight = datetime.combine(ends_on + timedelta(days=1), time(), tzinfo=ZoneInfo(timezone))
    return midnight.astimezone(UTC)


def instants(schedule: Schedule, after: datetime, until: datetime,
             series_start: datetime | None = None) -> Iterator[datetime]:
    """Every instant of the sequence in (after, until], in order."""
    at = next_after(schedule, after, series_start)
    while at <= until:
        yield at
        at = next_after(schedule, at, series_start)


def upcoming(schedule: Schedule, after: datetime, count: int = 5,
             series_start: datetime | None = None,
             ends_at: datetime | None = None) -> list[Window]:
    """The next ``count`` runs after ``after`` with their nominal windows; fewer when the
    series ends at ``ends_at`` first."""
    series_start = series_start or after
    runs: list[Window] = []
    at = next_after(schedule, after, series_start)
    start = previous_before(schedule, at, series_start)
    while len(runs) < count and (ends_at is None or at <= ends_at):
        runs.append(Window(run_at=at, start=start, end=at))
        start, at = at, next_after(schedule, at, series_start)
    return runs


@dataclass(frozen=True)
class Plan:
    """The runs to make now (oldest first) and the instant after the last of them, which is
    past ``ends_at`` when the series is over."""

    windows: tuple[Window, ...]
    following: datetime
    missed: int  # instants covered by the runs (1: on time)

    @property
    def catching_up(self) -> bool:
        return self.missed > 1


@dataclass(frozen=True)
class Due:
    """A task whose next instant has come: where its last window ended (``start``), that
    instant (``due``) and how it catches up."""

    schedule: Schedule
    series_start: datetime | None
    start: datetime
    due: datetime
    policy: str = DEFAULT_CATCH_UP
    cap: int = 24
    ends_at: datetime | None = None


def plan(task: Due, now: datetime) -> Plan:
    """The runs for ``task.due`` and every instant after it up to ``now`` (none past the
    end). ``combine``: one run covering them all. ``each``: one run per instant, each with
    its own window; beyond ``cap`` runs the oldest instants are combined into the first."""
    missed = [task.due]
    while True:
        following = next_after(task.schedule, missed[-1], task.series_start)
        if following > now or (task.ends_at is not None and following > task.ends_at):
            break
        missed.append(following)
    if task.policy == "each":
        ends = missed[-max(1, task.cap):]
    else:
        ends = missed[-1:]
    windows, start = [], task.start
    for end in ends:
        windows.append(Window(run_at=end, start=start, end=end))
        start = end
    return Plan(windows=tuple(windows), following=following, missed=len(missed))
