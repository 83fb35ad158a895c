"""The permission catalog (docs/product.md §6) and the built-in roles, defined in code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    key: str
    label: str
    group: str
    type: str = "ADMINISTRATIVE"


ADMIN_GROUP = "Admin - Scheduled reports"

VIEW_TASKS = "scheduled_reports.view"
CREATE_TASKS = "scheduled_reports.create"
EDIT_TASKS = "scheduled_reports.edit"
DELETE_TASKS = "scheduled_reports.delete"
MANAGE_USERS = "users.manage"
INGEST_DATA = "data.ingest"
VIEW_OUTBOX = "outbox.view"
VIEW_AUDIT = "audit.view"

# report type key → the label of its download permission: "Download " and the report's name
# as the report-type list shows it (tests/roles/test_permission_labels.py keeps them equal;
# roles import no jobs, so the names are written here). usage_by_company is no longer
# creatable, but its permission exists; room_metadata came after the other nine.
DOWNLOADS = {
    "native_connection_status":
        "Download Native channel connection status report (Health check report)",
    "whatsapp_inactivity": "Download WhatsApp inactivity report",
    "usage_by_company": "Download Chat Usage report by Company — no longer supported",
    "communication_compliance": "Download Communication Compliance report",
    "usage_by_rooms": "Download Chat Usage report by Rooms",
    "usage_by_users": "Download Chat Usage report by Users",
    "wecom_irregularities": "Download WeCom Native Irregularities report",
    "native_irregularities": "Download WhatsApp and iMessage Native Irregularities report",
    "archive_export_email_summary": "Download Archiving Export Email Summary report",
    "room_metadata": "Download Room Metadata report",
}


def download_permission(report_type: str) -> str:
    return f"download.{report_type}"


CATALOG: tuple[Permission, ...] = (
    Permission(VIEW_TASKS, "View scheduled reports", ADMIN_GROUP),
    Permission(CREATE_TASKS, "Create scheduled reports", ADMIN_GROUP),
    Permission(EDIT_TASKS, "Edit scheduled reports", ADMIN_GROUP),
    Permission(DELETE_TASKS, "Delete scheduled reports", ADMIN_GROUP),
    *(Permission(download_permission(k), label, ADMIN_GROUP) for k, label in DOWNLOADS.items()),
    Permission(MANAGE_USERS, "Manage users and roles", "Administration"),
    Permission(INGEST_DATA, "Ingest communications data", "Administration"),
    Permission(VIEW_OUTBOX, "View the mail outbox", "Administration"),
    Permission(VIEW_AUDIT, "View the audit log", "Administration"),
)
BY_KEY = {p.key: p for p in CATALOG}
ALL = frozenset(BY_KEY)
DOWNLOAD_PERMISSIONS = frozenset(download_permission(k) for k in DOWNLOADS)
ADMIN_GROUP_PERMISSIONS = frozenset(p.key for p in CATALOG if p.group == ADMIN_GROUP)

ADMIN_ROLE = "company-admin"
VIEWER_ROLE = "scheduled-reports.viewer"

# name → (description, permissions); created with every company, not editable.
BUILTIN_ROLES = {
    ADMIN_ROLE: ("Company administrator: every permission.", ALL),
    VIEWER_ROLE: ("Downloads scheduled reports; given to every recipient automatically.",
                  DOWNLOAD_PERMISSIONS),
}
