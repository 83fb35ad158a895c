"""The two-step task form (create and edit): its rendering, its fragments and its actions.

Routes live in views/tasks.py; this module holds what they do. Without JavaScript every
action is a plain submit; with htmx the fields that depend on the report type, the repeat
kind or the upload transport are swapped in place.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from jobs import schedule as sched
from jobs import schedule_words, series
from jobs.reports import registry
from roles.viewer import download_blockers

from ..extensions import db
from ..htmx import is_htmx, render, render_fragment
from ..models import Task
from ..services import accounts, form_secrets
from ..services import tasks as task_service
from ..services.connection_tests import TestResult, TooManyTests
from ..services.errors import InputError
from ..tenancy import current_company
from . import drafts, forms, task_series, timezones

STEP1_KEYS = ("name", "report_type", "channels", "schedule", "options", "active", "ends_on",
              "catch_up")
STEP1_FIELDS = ("name", "report_type", "schedule_kind", "schedule_time", "schedule_every_hours",
                "schedule_every_months", "schedule_day", "schedule_weekday", "timezone",
                "inactivity_days", "org_unit_ids")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def now() -> datetime:
    return datetime.now(UTC)


def preview(values: dict, default_tz: str):
    """(schedule, next five runs, error) of the schedule fields in ``values``."""
    try:
        schedule = sched.parse(forms.schedule(values), default_tz)
    except sched.ScheduleError as exc:
        return None, [], exc
    return schedule, series.upcoming(schedule, now(), 5, ends_at=task_series.ends_at(
        values, schedule.timezone)), None


def first_window(task: Task | None, values: dict, schedule, runs) -> str:
    """The first run of the preview and what it covers, as people read it: "The first run,
    Sun 29 Nov 2026 10:30, covers 29 Nov 06:30 → 10:30 (Europe/London), …"."""
    if schedule is None or not runs:
        return ""
    tz, run = schedule.timezone, runs[0]
    # An active task keeps its series: its next run starts where its last one ended.
    resumes = task is not None and task.active and values["active"] and task.watermark
    start = task.watermark if resumes else run.start
    why = ("the time since the last scheduled run" if resumes else
           "one schedule period, so the first report is a whole one")
    return (f"The {'next' if resumes else 'first'} run, {schedule_words.instant(run.run_at, tz)}"
            f", covers {schedule_words.span(start, run.end, tz)} ({tz}): {why}.")


def context(task: Task | None, values: dict, errors: dict | None = None, **extra) -> dict:
    """What the form's templates (page or fragment) need."""
    company = current_company()
    schedule, runs, preview_error = preview(values, company.timezone)
    part = extra.pop("fragment", False)  # a block: what only the whole page shows is skipped
    active = 0 if part else task_service.active_count(company)
    errors = errors or {}
    page = dict(task=task, values=values, errors=errors, all_types=registry.REPORT_TYPES,
                weekdays=sched.WEEKDAYS, weekday_names=WEEKDAY_NAMES,
                hourly_every=sched.HOURLY_EVERY,
                timezones=[] if part else timezones.choices(company.timezone,
                                                            values["timezone"], now()),
                schedule=schedule, preview=runs, preview_error=preview_error,
                first_window=first_window(task, values, schedule, runs),
                schedule_errors=any(k.startswith("schedule") for k in errors),
                active_count=active, active_limit=task_service.MAX_ACTIVE_TASKS,
                at_limit=active >= task_service.MAX_ACTIVE_TASKS and not (task and task.active),
                stored_server=task.server if task else None, server_fields=forms.SERVER_FIELDS,
                step1_fields=STEP1_FIELDS, form_url=extra.pop("form_url", request.path),
                form_token=extra.pop("form_token", None) or form_secrets.new_token(),
                kept_secrets=extra.pop("kept_secrets", {}), server_test=None,
                server_tested=False, no_login={})
    page.update(extra)
    return page


def render_form(task: Task | None, values: dict, step: int, errors: dict | None = None,
                status: int = 200, **extra):
    company = current_company()
    emails = [e for e in values["emails"] if e.strip()]
    blockers = download_blockers(company.id, emails, values.get("report_type") or None)
    return render("tasks/form.html", **context(
        task, values, errors, step=step, blockers=blockers,
        no_login=accounts.cannot_log_in(company.id, emails), **extra)), status


def fragment(block: str):
    """A part of step 1 for the values being edited (htmx: report type, repeat, preview)."""
    values = forms.values_from(request.args, current_company().timezone)
    return render_fragment("tasks/form.html", block, **context(None, values, step=1,
                                                                 fragment=True))


def new_form(task: Task | None):
    form = drafts.restore()
    if form is not None:  # sent after the session expired: what was typed comes back
        token, kept = drafts.adopt_secrets(form)
        return render_form(task, forms.values_from(form, current_company().timezone),
                           2 if form.get("step") == "2" else 1, form_token=token,
                           kept_secrets=kept)
    values = forms.values_of(task, current_company().timezone)
    if task is None and task_service.active_count(current_company()) >= \
            task_service.MAX_ACTIVE_TASKS:
        values["active"] = False  # said above the form; saved deactivated unless changed
    return render_form(task, values, 1)


def duplicate_form(source: Task):
    """The create form with ``source``'s values: a new name, its passwords not copied."""
    values = forms.values_of(source, current_company().timezone)
    values["name"] = f"Copy of {source.name}"[:120]
    values["active"] = task_service.active_count(current_company()) < \
        task_service.MAX_ACTIVE_TASKS
    return render_form(None, values, 1, form_url=url_for("tasks.create"))


def submit(task: Task | None):
    """A POST of the form: one of its actions, or Next / Save."""
    company = current_company()
    token = form_secrets.valid_token(request.form.get("form_token"))
    kept = form_secrets.keep(current_user.id, token, {
        k: request.form.get(k, "") for k in forms.SECRET_FIELDS})
    form = request.form.copy()
    for name, secret in kept.items():
        if not form.get(name):
            form[name] = secret
    values = forms.values_from(form, company.timezone)
    action = request.form.get("action", "")
    step = 2 if request.form.get("step") == "2" else 1
    keep = {"form_token": token, "kept_secrets": kept}
    if action == "add_email":
        values["emails"].append("")
        return render_form(task, values, 2, **keep)
    if action.startswith("remove_email:"):
        index = action.split(":", 1)[1]
        if index.isdigit() and int(index) < len(values["emails"]):
            values["emails"].pop(int(index))
        if not values["emails"]:
            values["emails"] = [""]
        return render_form(task, values, 2, **keep)
    if action in ("back", "preview", "refresh"):  # no JavaScript: refresh the dependent fields
        return render_form(task, values, 1, **keep)
    if action in ("server_fields", "test_connection"):
        return _server(task, form, values, action == "test_connection", keep)
    errors: dict = {}
    try:
        data = task_service.validate(company, forms.payload(form), task)
    except InputError as exc:
        errors = exc.fields
    try:  # said at step 1, not only when Save finds it
        task_service.check_active_limit(company, values["active"], task)
    except InputError as exc:
        errors.update(exc.fields)
    if errors:
        step1 = {k: v for k, v in errors.items() if k.split(".")[0] in STEP1_KEYS}
        if step == 1:
            if step1:
                return render_form(task, values, 1, step1, 422, **keep)
            return render_form(task, values, 2, **keep)  # recipients come next
        return render_form(task, values, 1 if step1 else 2, errors, 422, **keep)
    if step == 1:
        return render_form(task, values, 2, **keep)
    try:
        saved = task_service.save(company, data, now(), task)
    except InputError as exc:
        db.session.rollback()
        return render_form(task, values, 1, exc.fields, 422, **keep)
    except task_service.TaskBusy as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("tasks.show", task_id=task.id))
    db.session.commit()
    form_secrets.forget(current_user.id, token)
    flash(f"Task “{saved.name}” saved.")
    return redirect(url_for("tasks.show", task_id=saved.id))


def _server(task: Task | None, form, values: dict, test: bool, keep: dict):
    """The upload fieldset again: after a change of transport, or with the outcome of "Test
    connection" and every invalid setting marked at its field. With htmx only the fieldset
    is swapped; without, the whole step 2."""
    errors: dict = {}
    result = None
    if test and values["server_transport"]:
        try:
            result = task_service.test_connection(forms.server(form), task, current_user.id)
        except InputError as exc:
            errors = {f"recipients.{k}": v for k, v in exc.fields.items()}
        except TooManyTests as exc:
            result = TestResult(False, f"{exc} (again in {exc.retry_after} s)")
        if result is not None and result.fingerprint:
            values["server_host_key_fingerprint"] = result.fingerprint
    extra = dict(server_test=result, server_tested=test, **keep)
    if is_htmx():  # 200 either way: a check, not a save (htmx swaps only 2xx answers)
        return render_template("tasks/_server.html", **context(task, values, errors, **extra))
    return render_form(task, values, 2, errors, **extra)
