"""The ReportType interface: what a report type declares and the statement of its rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

ALL_CHANNELS = ("whatsapp", "imessage", "sms", "wecom", "wechat", "telegram", "line", "signal")
# How people write each channel's name (pages and emails never show the key).
CHANNEL_NAMES = {"whatsapp": "WhatsApp", "imessage": "iMessage", "sms": "SMS", "wecom": "WeCom",
                 "wechat": "WeChat", "telegram": "Telegram", "line": "LINE", "signal": "Signal"}


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


class whole_days(FunctionElement):  # noqa: N801 - used like an SQL function
    """Whole days from the time ``earlier`` to the time ``later`` (both ``UTCDateTime``,
    ``earlier`` not after ``later``), as Python's ``(later - earlier).days``."""

    type = sa.Integer()
    name = "whole_days"
    inherit_cache = True


@compiles(whole_days, "postgresql")
def _whole_days_postgresql(element, compiler, **kw):
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(floor(extract(epoch FROM {later} - {earlier}) / 86400) AS INTEGER)"


@compiles(whole_days, "sqlite")
def _whole_days_sqlite(element, compiler, **kw):
    # stored as 'YYYY-MM-DD HH:MM:SS.ffffff': whole seconds by strftime, then microseconds
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)

    def micros(t):
        return (f"(CAST(strftime('%s', substr({t}, 1, 19)) AS INTEGER) * 1000000"
                f" + CAST(substr({t}, 21, 6) AS INTEGER))")

    return f"(({micros(later)} - {micros(earlier)}) / 86400000000)"


class ReportType:
    key: str = ""
    name: str = ""
    channels: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    server_upload: bool = False  # may be delivered to an FTP/SFTP server
    creatable: bool = True
    options: tuple[str, ...] = ()  # the task options that apply to it besides excel_bom
    snapshot: bool = False  # ignores the window: built as of the run time

    @property
    def delivery(self) -> list[str]:
        return ["email", "server"] if self.server_upload else ["email"]

    def statement(self, ctx: BuildContext) -> sa.Select:
        """The report's rows as one SELECT, one column per entry of ``columns`` (without
        the company column), each of one of the types the CSV knows how to write: text,
        integer, boolean, or ``UTCDateTime`` (see cells.py; the database writes the
        cells). The times of a report that is not a snapshot must lie in its window."""
        raise NotImplementedError

    def summary(self, row_count: int, session, ctx: BuildContext) -> str:
        """The summary line of the email."""
        return f"{row_count} row{'s' if row_count != 1 else ''}"

    def as_dict(self) -> dict:
        return {"key": self.key, "name": self.name, "channels": list(self.channels),
                "delivery": self.delivery, "creatable": self.creatable}
