"""My reports: the runs of every task that names the user as a recipient, newest first,
filtered by report type and period, paged by keyset (the id of the last run shown)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from jobs.reports import registry

from ..extensions import db
from ..models import Run, Task, TaskRecipient, User
from .errors import InputError
from .lists import Page, keyset

PAGE = 25


@dataclass
class Filters:
    report_type: str = ""
    since: date | None = None  # the period, in the company's time zone, both days included
    until: date | None = None
    cursor: int | None = None


def parse_filters(args) -> Filters:
    """Filters from the query string; InputError names each bad field."""
    filters, errors = Filters(), {}
    report_type = (args.get("report_type") or "").strip()
    if report_type and report_type not in registry.REPORT_TYPES:
        errors["report_type"] = "Choose a report type from the list."
    filters.report_type = report_type
    for name in ("since", "until"):
        value = (args.get(name) or "").strip()
        if value:
            try:
                setattr(filters, name, date.fromisoformat(value))
            except ValueError:
                errors[name] = "Give a date as YYYY-MM-DD, e.g. 2026-11-30."
    if filters.since and filters.until and filters.since > filters.until:
        errors["until"] = "The period's end must not be before its start."
    cursor = (args.get("cursor") or "").strip()
    if cursor:
        if not cursor.isdigit() or int(cursor) > 2**31 - 1:
            errors["cursor"] = "This page link is not valid: start from the first page."
        else:
            filters.cursor = int(cursor)
    if errors:
        raise InputError(errors)
    return filters


def _recipient_tasks(user: User):
    return sa.select(TaskRecipient.task_id).where(
        TaskRecipient.company_id == user.company_id, TaskRecipient.email_key == user.email_key)


def report_types(user: User) -> list[str]:
    """The report types of the tasks naming the user (for the filter's choices)."""
    return sorted(db.session.scalars(sa.select(Task.report_type).distinct().where(
        Task.company_id == user.company_id, Task.id.in_(_recipient_tasks(user)))))


def page(user: User, filters: Filters, timezone: str,
         limit: int = PAGE) -> Page:
    """One page of runs, newest first, and the cursor of the next page (None: the last)."""
    query = sa.select(Run).join(Task, Task.id == Run.task_id).where(
        Run.company_id == user.company_id, Task.company_id == user.company_id,
        Run.task_id.in_(_recipient_tasks(user)), Run.trigger != "test")  # not Send tests
    if filters.report_type:
        query = query.where(Task.report_type == filters.report_type)
    zone = ZoneInfo(timezone)
    if filters.since:  # runs whose window reaches into the period
        query = query.where(Run.window_end >= datetime.combine(filters.since, time(), zone))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time(), zone)
        query = query.where(Run.window_start < end)
    if filters.cursor:
        query = query.where(Run.id < filters.cursor)
    return keyset(db.session.scalars(query.order_by(Run.id.desc()).limit(limit + 1)).all(),
                  limit)
