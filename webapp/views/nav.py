"""The portal's navigation, in one table: the header shows the entries a user may open, and
an error page offers the first of them as the way forward (never the page that failed)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from flask_login import current_user

from roles import permissions as P
from roles.access import can


@dataclass(frozen=True)
class Entry:
    endpoint: str
    label: str
    permission: str | None  # None: anyone logged in


NAV: tuple[Entry, ...] = (
    Entry("tasks.index", "Scheduled Reports", P.VIEW_TASKS),
    Entry("my.reports", "My reports", None),
    Entry("admin.outbox", "Outbox", P.VIEW_OUTBOX),
    Entry("admin.audit_log", "Audit log", P.VIEW_AUDIT),
    Entry("roles.users", "Users", P.MANAGE_USERS),
    Entry("roles.index", "Roles", P.MANAGE_USERS),
    Entry("sso.settings", "Single sign-on", P.MANAGE_USERS),
    Entry("account.token_list", "API tokens", None),
)


def nav_links() -> list[tuple[str, str]]:
    """[(url, label)] of the entries the logged-in user may open."""
    if not current_user.is_authenticated:
        return []
    return [(url_for(e.endpoint), e.label) for e in NAV
            if e.permission is None or can(e.permission)]


def way_forward(*not_these: str | None) -> tuple[str, str] | None:
    """(url, label) of the first page the user may open other than ``not_these`` (the page
    that failed, and the one already offered as the way back)."""
    return next(((url, label) for url, label in nav_links() if url not in not_these), None)
