"""Validating, saving, deleting and running tasks: one path for the portal and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from jobs import dispatch as dispatcher
from jobs import held
from jobs import schedule as sched
from jobs.delivery import settings as server_settings
from jobs.delivery.base import InvalidSettings, TestResult
from jobs.reports import registry
from jobs.reports.base import ALL_CHANNELS
from roles.viewer import sync_recipient_roles

from ..extensions import db
from ..models import Company, OrgUnit, Run, Task, TaskRecipient
from ..models.users import email_key
from . import audit
from .errors import InputError
from .people import normalise_email

MAX_ACTIVE_TASKS = 100
MAX_RECIPIENTS = 50
DEFAULT_OPTIONS = {"inactivity_days": 14, "org_unit_ids": [], "excel_bom": False}


class TaskBusy(RuntimeError):
    """The task is running: it cannot be edited until the run ends."""


@dataclass
class TaskInput:
    name: str
    report_type: str
    channels: list[str]
    schedule: sched.Schedule
    emails: list[str]
    options: dict
    active: bool
    server: dict | None = None  # as stored: secrets encrypted (jobs/delivery/settings.py)


def _present(task: Task | None) -> dict:
    if task is None:
        return {"options": dict(DEFAULT_OPTIONS), "active": True, "recipients": {"emails": []}}
    return {
        "name": task.name, "report_type": task.report_type, "channels": list(task.channels),
        "schedule": sched.of(task).as_dict(), "recipients": {"emails": task.recipient_emails},
        "options": dict(task.options or {}), "active": task.active,
    }


def validate(company: Company, payload: dict, task: Task | None = None) -> TaskInput:
    """Validate a whole task (or, with ``task``, a partial edit merged over it).

    Raise InputError with a message per field (dotted names for nested fields).
    """
    if not isinstance(payload, dict):
        raise InputError({"body": "The request body must be a JSON object."})
    data = _present(task)
    for key in ("name", "report_type", "channels", "schedule", "recipients", "options",
                "active"):
        if key in payload:
            data[key] = payload[key]
    unknown = sorted(set(payload) - set(data) - {"id", "status", "next_run_at", "last_run"})
    errors: dict[str, str] = {f: "Unknown field." for f in unknown}

    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = "Task name is required."
    elif len(name.strip()) > 120:
        errors["name"] = "Task name must have at most 120 characters."

    rtype = registry.get(data.get("report_type")) if isinstance(data.get("report_type"),
                                                                str) else None
    if rtype is None:
        keys = ", ".join(t.key for t in registry.creatable())
        errors["report_type"] = f"Report type must be one of {keys}."
    elif not rtype.creatable:
        errors["report_type"] = f"{rtype.name}: this report type is no longer supported and " \
                                "cannot be created."
        rtype = None

    channels = data.get("channels")
    if not isinstance(channels, list) or not channels or not all(
            isinstance(c, str) for c in channels):
        errors["channels"] = "Select at least one channel."
        channels = []
    else:
        allowed = rtype.channels if rtype is not None else ALL_CHANNELS
        bad = [c for c in channels if c not in allowed]
        if bad:
            errors["channels"] = (f"{', '.join(bad)} not available for this report type; "
                                  f"choose from {', '.join(allowed)}.")
    channels = [c for c in dict.fromkeys(channels)]

    schedule = None
    raw_schedule = data.get("schedule")
    if not isinstance(raw_schedule, dict):
        errors["schedule"] = "Schedule is required."
    else:
        if task is not None and "schedule" in payload and "timezone" not in raw_schedule:
            raw_schedule = {**raw_schedule, "timezone": task.timezone}
        try:
            schedule = sched.parse(raw_schedule, company.timezone)
        except sched.ScheduleError as exc:
            errors.update({f"schedule.{k}": v for k, v in exc.fields.items()})

    recipients = data.get("recipients")
    emails: list[str] = []
    server = None
    if not isinstance(recipients, dict):
        errors["recipients"] = "Recipients must be an object with emails and server."
    else:
        raw_emails = recipients.get("emails") or []
        stored = task.server if task is not None else None
        # Left out: the task keeps its server (and its secrets); null removes it.
        raw_server = recipients["server"] if "server" in recipients else (
            server_settings.present(stored) if stored else None)
        if raw_server:
            if rtype is not None and not rtype.server_upload:
                errors["recipients.server"] = (
                    "Server upload is only available for the Native channel connection "
                    "status report; use email recipients for this report type.")
            else:
                try:
                    server = server_settings.validate(raw_server, stored)
                except InvalidSettings as exc:
                    errors.update(exc.fields)
        if not isinstance(raw_emails, list):
            errors["recipients.emails"] = "Emails must be a list of addresses."
        else:
            seen = set()
            for i, raw in enumerate(raw_emails):
                try:
                    address = normalise_email(raw if isinstance(raw, str) else "",
                                              f"recipients.emails.{i}")
                except InputError as exc:
                    errors.update(exc.fields)
                    continue
                if email_key(address) not in seen:
                    seen.add(email_key(address))
                    emails.append(address)
            if not emails and not raw_server and \
                    "recipients.emails" not in errors and not any(
                        k.startswith("recipients.emails.") for k in errors):
                errors["recipients.emails"] = "Add at least one recipient email address."
            if len(emails) > MAX_RECIPIENTS:
                errors["recipients.emails"] = f"At most {MAX_RECIPIENTS} email recipients."

    options = dict(DEFAULT_OPTIONS)
    raw_options = data.get("options") or {}
    if not isinstance(raw_options, dict):
        errors["options"] = "Options must be an object."
    else:
        for key in raw_options:
            if key not in DEFAULT_OPTIONS:
                errors[f"options.{key}"] = "Unknown option."
        days = raw_options.get("inactivity_days", 14)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 30:
            errors["options.inactivity_days"] = "Inactivity threshold must be 1 to 30 days."
        ous = raw_options.get("org_unit_ids", [])
        if not isinstance(ous, list) or not all(isinstance(o, str) for o in ous):
            errors["options.org_unit_ids"] = "Org unit ids must be a list of strings."
        elif ous:
            known = set(db.session.scalars(sa.select(OrgUnit.external_id).where(
                OrgUnit.company_id == company.id, OrgUnit.external_id.in_(ous))))
            unknown = [o for o in ous if o not in known]
            if unknown:
                errors["options.org_unit_ids"] = (
                    f"Unknown org unit id{'s' if len(unknown) > 1 else ''}: "
                    f"{', '.join(unknown)}. Use the ids your org units were ingested with.")
        bom = raw_options.get("excel_bom", False)
        if not isinstance(bom, bool):
            errors["options.excel_bom"] = "Excel BOM must be true or false."
        options.update({k: v for k, v in raw_options.items() if k in DEFAULT_OPTIONS})

    active = data.get("active", True)
    if not isinstance(active, bool):
        errors["active"] = "Activated must be true or false."
    if errors:
        raise InputError(errors)
    return TaskInput(name=name.strip(), report_type=rtype.key, channels=channels,
                     schedule=schedule, emails=emails, options=options, active=active,
                     server=server)


def save(company: Company, data: TaskInput, now: datetime, task: Task | None = None) -> Task:
    """Create or update a task in the current transaction (the caller commits).

    The company row is locked first so that the 100-active-tasks limit holds under
    concurrent requests.
    """
    db.session.execute(sa.select(Company.id).where(Company.id == company.id).with_for_update())
    if task is not None:
        db.session.refresh(task, with_for_update=True)
        if task.status == "running":
            raise TaskBusy("This task is running; edit it when the run has finished.")
        _settle(task, now)
    was_active = task is not None and task.active
    before = audit.task_fields(task)
    old_schedule = sched.of(task) if task is not None else None
    if data.active and not was_active:
        active = db.session.scalar(sa.select(sa.func.count(Task.id)).where(
            Task.company_id == company.id, Task.active.is_(True)))
        if active >= MAX_ACTIVE_TASKS:
            raise InputError({"active": (
                f"This company already has {active} activated tasks, the most allowed is "
                f"{MAX_ACTIVE_TASKS}. Deactivate or delete a task first, or save this one "
                "with Activated off.")})
    if task is None:
        task = Task(company_id=company.id)
        db.session.add(task)

    task.name = data.name
    task.report_type = data.report_type
    task.channels = data.channels
    for column, value in sched.columns(data.schedule).items():
        setattr(task, column, value)
    task.options = data.options
    task.server = data.server
    task.active = data.active
    with db.session.no_autoflush:
        _set_recipients(task, data.emails)

    if not data.active or data.schedule != old_schedule:
        dispatcher.cancel_prepared(task)  # its instant has not come: it will not run
    if not data.active:
        task.status, task.next_run_at = "inactive", None
    elif not was_active:  # (re)activation starts a new series: first window is nominal
        task.status, task.series_start, task.watermark = "scheduled", now, None
        task.next_run_at = sched.first_run(data.schedule, now)
    elif data.schedule != old_schedule:
        task.series_start = now
        task.next_run_at = sched.next_after(data.schedule, now, now)
    db.session.flush()
    sync_recipient_roles(company.id)
    audit.task_saved(task, before)
    return task


def _set_recipients(task: Task, emails: list[str]) -> None:
    keep = {email_key(e): e for e in emails}
    for recipient in list(task.recipients):
        if recipient.email_key not in keep:
            task.recipients.remove(recipient)
        else:
            recipient.email = keep.pop(recipient.email_key)
    for key, email in keep.items():
        task.recipients.append(TaskRecipient(company_id=task.company_id, email=email,
                                             email_key=key))


def delete(task: Task) -> None:
    if task.status == "running":
        raise TaskBusy("This task is running; delete it when the run has finished.")
    company_id = task.company_id
    audit.record("task.delete", task)
    db.session.delete(task)  # its runs go with it (ON DELETE CASCADE), a prepared one too
    db.session.flush()
    sync_recipient_roles(company_id)


def run_now(task: Task, now: datetime) -> Run:
    """An extra run whose window ends now and starts where the last scheduled window ended;
    the watermark does not move. Committed and queued; TaskBusy (rolled back) while the task
    is running."""
    if task.status == "running":
        db.session.rollback()
        raise TaskBusy("This task is already running; wait for the run to finish.")
    _settle(task, now)
    start = task.watermark or sched.previous_before(sched.of(task), now,
                                                    task.series_start or now)
    run = Run(company_id=task.company_id, task_id=task.id, trigger="manual",
              window_start=min(start, now), window_end=now, status="queued")
    db.session.add(run)
    db.session.flush()
    audit.record("task.run_now", task, details={"run_id": run.id})
    db.session.commit()
    held.enqueue(run.id)
    return run


def test_connection(raw, task: Task | None) -> TestResult:
    """"Test connection" of upload settings before saving them; passwords left out are the
    task's stored ones. Raise InputError for invalid settings."""
    try:
        return server_settings.test_connection(raw, task.server if task else None,
                                               server_settings.timeouts())
    except InvalidSettings as exc:
        raise InputError(exc.fields) from None


def _settle(task: Task, now: datetime) -> None:
    """If the task's prepared run has reached its instant but the dispatcher has not yet
    advanced the task, advance it now, so the watermark is where that run's window ends."""
    if dispatcher.settle(now, task.id):
        db.session.refresh(task)


def last_run(task: Task) -> Run | None:
    return db.session.scalar(sa.select(Run).where(Run.task_id == task.id)
                             .order_by(Run.id.desc()).limit(1))
