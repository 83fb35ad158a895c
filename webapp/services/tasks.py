"""Validating, saving, deleting and running tasks: one path for the portal and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from jobs import dispatch as dispatcher
from jobs import held, series
from jobs import schedule as sched
from jobs.delivery import settings as server_settings
from jobs.delivery.base import InvalidSettings, TestResult
from jobs.reports import registry, storage
from jobs.reports.base import ALL_CHANNELS
from roles.viewer import sync_recipient_roles

from ..extensions import db
from ..models import Company, OrgUnit, Run, Task, TaskRecipient
from ..models.users import email_key
from ..schemas.documented import MAX_RECIPIENTS
from ..schemas.tasks import ServerSchema, TaskSchema
from . import audit, connection_tests
from .errors import NOT_AN_OBJECT, InputError, load
from .people import acting_user_id

MAX_ACTIVE_TASKS = 100
DEFAULT_OPTIONS = {"inactivity_days": 14, "org_unit_ids": [], "excel_bom": False,
                   "skip_empty": False, "gzip": False, "spread_minutes": 0}
EDITABLE = ("name", "report_type", "channels", "schedule", "recipients", "options", "active",
            "ends_on", "catch_up")


class TaskBusy(RuntimeError):
    """The task is running: it cannot be edited until the run ends."""


class RunPending(TaskBusy):
    """Run now while a run of the task is queued or running: that run, nothing new."""

    def __init__(self, run: Run) -> None:
        super().__init__(f"A run of this task is already {run.status} (run #{run.id}); "
                         "it was not started again.")
        self.run = run


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
    ends_on: date | None = None
    catch_up: str = series.DEFAULT_CATCH_UP


def _stored(task: Task | None, payload: dict) -> dict:
    """The payload merged over the stored task (an edit gives only what changes)."""
    if task is None:
        return dict(payload)
    data = TaskSchema(only=EDITABLE).dump(task)
    data.update(payload)
    schedule = payload.get("schedule")
    if isinstance(schedule, dict) and "timezone" not in schedule:
        data["schedule"] = {**schedule, "timezone": task.timezone}  # the task's, not the company's
    recipients = data["recipients"]
    if isinstance(recipients, dict) and "server" not in recipients:
        # Left out: the task keeps its server (and its secrets); null removes it.
        data["recipients"] = {**recipients, "server": ServerSchema().dump(task.server)
                              if task.server else None}
    return data


def validate(company: Company, payload, task: Task | None = None) -> TaskInput:
    """Validate a whole task (or, with ``task``, a partial edit merged over it) through
    TaskSchema, then the rules that need the report type, the stored server or the database.

    Raise InputError with a message per field (dotted names for nested fields).
    """
    if not isinstance(payload, dict):
        raise InputError(NOT_AN_OBJECT)
    data, errors = load(TaskSchema(timezone=company.timezone), _stored(task, payload))
    rtype = registry.get(data.get("report_type", ""))
    allowed = rtype.channels if rtype is not None else ALL_CHANNELS
    bad = [c for c in data.get("channels", ()) if c not in allowed]
    if bad:
        errors["channels"] = (f"{', '.join(bad)} not available for this report type; "
                              f"choose from {', '.join(allowed)}.")
    recipients = data.get("recipients", {})
    server = _server(recipients.get("server"), rtype, task, errors)
    unique: dict[str, str] = {}
    for address in recipients.get("emails", []):
        unique.setdefault(email_key(address), address)  # the first spelling of each address
    emails = list(unique.values())
    if "recipients" in data and not emails and not server and not any(
            k.startswith("recipients") for k in errors):
        errors["recipients.emails"] = "Add at least one recipient email address."
    if len(emails) > MAX_RECIPIENTS:
        errors["recipients.emails"] = f"At most {MAX_RECIPIENTS} email recipients."
    options = {**DEFAULT_OPTIONS, **data.get("options", {})}
    _org_units_exist(company, options["org_unit_ids"], errors)
    if errors:
        raise InputError(errors)
    return TaskInput(name=data["name"], report_type=data["report_type"],
                     channels=data["channels"], schedule=data["schedule"], emails=emails,
                     options=options, active=data["active"], server=server,
                     ends_on=data.get("ends_on"), catch_up=data["catch_up"])


def _server(raw, rtype, task: Task | None, errors: dict) -> dict | None:
    """The server to store (secrets encrypted), checked by jobs/delivery/settings.py."""
    if not raw:
        return None
    if rtype is not None and not rtype.server_upload:
        errors["recipients.server"] = (
            "Server upload is only available for the Native channel connection status "
            "report; use email recipients for this report type.")
        return None
    try:
        return server_settings.validate(raw, task.server if task is not None else None)
    except InvalidSettings as exc:
        errors.update(exc.fields)
        return None


def _org_units_exist(company: Company, ids: list[str], errors: dict) -> None:
    if not ids or "options.org_unit_ids" in errors:
        return
    known = set(db.session.scalars(sa.select(OrgUnit.external_id).where(
        OrgUnit.company_id == company.id, OrgUnit.external_id.in_(ids))))
    unknown = [o for o in ids if o not in known]
    if unknown:
        errors["options.org_unit_ids"] = (
            f"Unknown org unit id{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
            "Use the ids your org units were ingested with.")


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
    check_active_limit(company, data.active, task)
    if task is None:
        task = Task(company_id=company.id, created_by_id=acting_user_id())
        db.session.add(task)

    task.name = data.name
    task.report_type = data.report_type
    task.channels = data.channels
    for column, value in sched.columns(data.schedule).items():
        setattr(task, column, value)
    task.options = data.options
    task.server = data.server
    task.active = data.active
    task.ends_on, task.catch_up = data.ends_on, data.catch_up
    task.ends_at = series.end_instant(data.ends_on, data.schedule.timezone)
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
    _check_end(task)
    db.session.flush()
    sync_recipient_roles(company.id)
    audit.task_saved(task, before)
    return task


def _check_end(task: Task) -> None:
    """An active task's next run may not be after its end date."""
    if task.active and task.ends_at is not None and task.next_run_at > task.ends_at:
        when = task.next_run_at.astimezone(ZoneInfo(task.timezone))
        raise InputError({"ends_on": (
            f"The next run ({when:%a %-d %b %Y %H:%M}) would be after the end date: choose "
            "a later end date, or save the task with Activated off.")})


def set_active(company: Company, task: Task, active: bool, now: datetime) -> Task:
    """The Activated toggle: the same rules as an edit that changes only ``active``."""
    return save(company, validate(company, {"active": active}, task), now, task)


def active_count(company: Company) -> int:
    return db.session.scalar(sa.select(sa.func.count(Task.id)).where(
        Task.company_id == company.id, Task.active.is_(True)))


def check_active_limit(company: Company, active: bool, task: Task | None) -> None:
    """InputError on "active" when activating one more task would pass the limit."""
    if not active or (task is not None and task.active):
        return
    count = active_count(company)
    if count >= MAX_ACTIVE_TASKS:
        raise InputError({"active": (
            f"This company already has {count} activated tasks, the most allowed is "
            f"{MAX_ACTIVE_TASKS}. Deactivate or delete a task first, or save this one "
            "with Activated off.")})


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
    storage.delete_runs(storage.files_of(task))  # its reports: nothing could reach them later
    db.session.delete(task)  # its runs go with it (ON DELETE CASCADE), a prepared one too
    db.session.flush()
    sync_recipient_roles(company_id)


def run_now(task: Task, now: datetime) -> Run:
    """An extra run whose window ends now and starts where the last scheduled window ended;
    the watermark does not move. Committed and queued. RunPending (rolled back) while a run
    of the task is queued or running: two clicks or two tabs start one run."""
    run = Run(company_id=task.company_id, task_id=task.id, trigger="manual",
              window_start=extra_run_start(task, now), window_end=now, status="queued")
    db.session.add(run)
    db.session.flush()
    audit.record("task.run_now", task, details={"run_id": run.id})
    db.session.commit()
    held.enqueue(run.id)
    return run


def extra_run_start(task: Task, now: datetime) -> datetime:
    """Where a run started by hand (Run now, Send test) begins: the end of the last scheduled
    window. Takes the task's row first and raises RunPending (rolled back) while one of its
    runs is queued or running, TaskBusy while it runs."""
    # Take the task's row first (PostgreSQL: its row lock; SQLite: the database's write
    # lock), so that a concurrent Run now waits here and then sees the run made below.
    db.session.execute(sa.update(Task).where(Task.id == task.id).values(status=Task.status))
    pending = db.session.scalar(sa.select(Run).where(
        Run.task_id == task.id, Run.status.in_(("queued", "running")),
        # a scheduled run prepared ahead of its instant is not under way yet
        sa.or_(Run.scheduled_for.is_(None), Run.scheduled_for <= now))
        .order_by(Run.id.desc()).limit(1))
    if pending is not None:
        db.session.rollback()
        raise RunPending(pending)
    db.session.refresh(task)
    if task.status == "running":
        db.session.rollback()
        raise TaskBusy("This task is already running; wait for the run to finish.")
    _settle(task, now)
    start = task.watermark or sched.previous_before(sched.of(task), now,
                                                    task.series_start or now)
    return min(start, now)


def test_connection(raw, task: Task | None, user_id: int) -> TestResult:
    """Test upload settings before saving; passwords left out are the task's stored ones (for
    the same endpoint only). Bounded per user and per process (connection_tests.py)."""
    return connection_tests.run(raw, task.server if task else None, user_id)


def _settle(task: Task, now: datetime) -> None:
    """Advance the task now if its prepared run's instant came before the dispatcher did."""
    if dispatcher.settle(now, task.id):
        db.session.refresh(task)


