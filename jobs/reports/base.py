"""The ReportType interface: what a report type declares and how it yields its rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

ALL_CHANNELS = ("whatsapp", "imessage", "sms", "wecom", "wechat", "telegram", "line", "signal")


@dataclass(frozen=True)
class BuildContext:
    """Everything a report needs to build its rows; no clock, no request."""

    company_id: int
    company_name: str
    channels: tuple[str, ...]
    window_start: datetime
    window_end: datetime
    timezone: ZoneInfo
    options: dict = field(default_factory=dict)

    def local(self, value: datetime | None) -> str:
        return value.astimezone(self.timezone).isoformat() if value else ""

    @property
    def now(self) -> datetime:
        """The instant a snapshot is taken at (the runner gives a snapshot both window ends
        at the run time)."""
        return self.window_end


def stream(session, stmt, batch: int = 2000):
    """Rows of a report's statement, fetched in batches (a server-side cursor on
    PostgreSQL), so memory does not grow with the number of rows.

    A PostgreSQL cursor is planned for its first rows (``cursor_tuple_fraction`` 0.1),
    which can pick a slower plan for an aggregation that is read to the end anyway: the
    transaction is told that every row will be read."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL cursor_tuple_fraction = 1.0"))
    return session.execute(stmt.execution_options(yield_per=batch))


def in_window(column, ctx: BuildContext):
    """The run's window, start excluded and end included, so that consecutive windows
    count every instant exactly once."""
    return sa.and_(column > ctx.window_start, column <= ctx.window_end)


def local_day(column, ctx: BuildContext):
    """SQL for the task's local date (``YYYY-MM-DD``) of a UTC time column inside the
    window: a CASE over the local midnights the window crosses, so both databases compute
    it the same way, with no time-zone support needed in SQLite."""
    tz = ctx.timezone
    day = ctx.window_start.astimezone(tz).date()
    last = ctx.window_end.astimezone(tz).date()
    whens = []
    while day < last:
        midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
        whens.append((column < midnight, day.isoformat()))
        day += timedelta(days=1)
    if not whens:
        return sa.literal(last.isoformat(), sa.String)
    return sa.case(*whens, else_=last.isoformat())


class ReportType:
    key: str = ""
    name: str = ""
    channels: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    server_upload: bool = False  # may be delivered to an FTP/SFTP server
    creatable: bool = True
    snapshot: bool = False  # ignores the window: built as of the run time

    @property
    def delivery(self) -> list[str]:
        return ["email", "server"] if self.server_upload else ["email"]

    def rows(self, session, ctx: BuildContext) -> Iterator[Iterable]:
        """Yield the rows, without the company column, streamed from the database."""
        raise NotImplementedError

    def summary(self, row_count: int, session, ctx: BuildContext) -> str:
        """The summary line of the email."""
        return f"{row_count} row{'s' if row_count != 1 else ''}"

    def as_dict(self) -> dict:
        return {"key": self.key, "name": self.name, "channels": list(self.channels),
                "delivery": self.delivery, "creatable": self.creatable}
