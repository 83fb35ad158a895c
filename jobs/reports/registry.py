"""The report types Herald knows, in one explicit dict."""

from __future__ import annotations

from .archive_export_email_summary import ArchiveExportEmailSummary
from .base import ReportType
from .communication_compliance import CommunicationCompliance
from .native_connection_status import NativeConnectionStatus
from .native_irregularities import NativeIrregularities
from .room_metadata import RoomMetadata
from .usage_by_rooms import UsageByRooms
from .usage_by_users import UsageByUsers
from .wecom_irregularities import WeComIrregularities
from .whatsapp_inactivity import WhatsAppInactivity


class UsageByCompany(ReportType):
    """No longer supported: listed, not creatable; its download permission remains."""

    key = "usage_by_company"
    name = "Chat Usage report by Company — no longer supported"
    creatable = False


REPORT_TYPES: dict[str, ReportType] = {
    t.key: t for t in (
        NativeConnectionStatus(),
        WhatsAppInactivity(),
        UsageByCompany(),
        UsageByRooms(),
        UsageByUsers(),
        CommunicationCompliance(),
        NativeIrregularities(),
        WeComIrregularities(),
        ArchiveExportEmailSummary(),
        RoomMetadata(),
    )
}


def get(key: str) -> ReportType | None:
    return REPORT_TYPES.get(key)


def creatable() -> list[ReportType]:
    return [t for t in REPORT_TYPES.values() if t.creatable]
