"""The report types Herald knows, in one explicit dict."""

from __future__ import annotations

from .base import ReportType
from .usage_by_rooms import UsageByRooms


class UsageByCompany(ReportType):
    """No longer supported: listed, not creatable; its download permission remains."""

    key = "usage_by_company"
    name = "Chat Usage report by Company — no longer supported"
    creatable = False


REPORT_TYPES: dict[str, ReportType] = {
    t.key: t for t in (
        UsageByCompany(),
        UsageByRooms(),
    )
}


def get(key: str) -> ReportType | None:
    return REPORT_TYPES.get(key)


def creatable() -> list[ReportType]:
    return [t for t in REPORT_TYPES.values() if t.creatable]
