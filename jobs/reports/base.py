"""The ReportType interface: what a report type declares and how it yields its rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

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
