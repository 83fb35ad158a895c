"""Scheduled Reports: the task list, the two-step create/edit form, run now, delete."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from jobs import schedule as sched
from jobs import series
from jobs.reports import registry
from roles import permissions as P
from roles.access import can, require_permission
from roles.viewer import download_blockers

from ..extensions import db
from ..htmx import render, render_fragment
from ..models import Task
from ..models.runs import RUN_STATUSES, RUN_TRIGGERS
from ..models.tasks import TASK_STATUSES
from ..services import accounts, lists
from ..services import tasks as task_service
from ..services.connection_tests import TestResult, TooManyTests
from ..services.errors import InputError
from ..tenancy import current_company, get_for_company_or_404
from . import forms, task_series

bp = Blueprint("tasks", __name__)

STEP1_FIELDS = ("name", "report_type", "channels", "schedule", "options", "active", "ends_on",
                "catch_up")


@bp.before_request
@login_required
def _login():
    return None


def _now() -> datetime:
    return datetime.now(UTC)


@bp.get("/")
def home():
    """The task list for those who may see it; everyone else's reports otherwise."""
    return redirect(url_for("tasks.index" if can(P.VIEW_TASKS) else "my.reports"))


@bp.get("/tasks")
@require_permission(P.VIEW_TASKS)
def index():
    """The task list: search, filters (type, status, activated), sorting and pages."""
    company_id = current_user.company_id
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    try:
        query = lists.task_query(True, request.args)
    except InputError as exc:
        query, errors = lists.task_query(True, {}), exc.fields
    else:
        errors = {}
    page = lists.tasks_by_page(company_id, query)
    active = db.session.scalar(sa.select(sa.func.count(Task.id)).where(
        Task.company_id == company_id, Task.active.is_(True)))
    today = _now().astimezone(ZoneInfo(current_company().timezone)).date()
    pages = max(1, -(-page.total // query["limit"]))
    return render("tasks/index.html", tasks=page.items, total=page.total, query=query,
                  pages=pages, args=args, errors=errors, registry=registry, active=active,
                  limit=task_service.MAX_ACTIVE_TASKS,
                  statuses=TASK_STATUSES,
                  ends_label=lambda task: task_series.ends_label(task, today)), \
        (422 if errors else 200)


@bp.get("/tasks/<int:task_id>")
@require_permission(P.VIEW_TASKS)
def show(task_id: int):
    task = get_for_company_or_404(Task, task_id)
    args = {k: v for k, v in request.args.items() if k in ("status", "trigger") and v}
    try:
        page = lists.runs(task, request.args)
    except InputError as exc:
        page, errors = lists.runs(task, {}), exc.fields
    else:
        errors = {}
    return render("tasks/show.html", task=task, runs=page.items, cursor=page.next_cursor,
                  args=args, errors=errors, report=registry.get(task.report_type),
                  run_statuses=RUN_STATUSES, run_triggers=RUN_TRIGGERS,
                  blockers=download_blockers(task.company_id, task.recipient_emails,
                                             task.report_type)), (422 if errors else 200)


def _render_form(task: Task | None, values: dict, step: int, errors: dict | None = None,
                 status: int = 200, server_test=None, block: str | None = None):
    company = current_company()
    preview, preview_error = _preview(values, company.timezone)
    emails = [e for e in values["emails"] if e.strip()]
    blockers = download_blockers(company.id, emails, values.get("report_type") or None)
    return render("tasks/form.html", block, task=task, values=values, step=step,
                  errors=errors or {}, report_types=registry.creatable(),
                  all_types=registry.REPORT_TYPES, weekdays=sched.WEEKDAYS,
                  hourly_every=sched.HOURLY_EVERY, timezones=sched.timezone_names(),
                  preview=preview, preview_error=preview_error, blockers=blockers,
                  no_login=accounts.cannot_log_in(company.id, emails),
                  server_test=server_test, stored_server=task.server if task else None,
                  server_fields=forms.SERVER_FIELDS), status


def _preview(values: dict, default_tz: str):
    try:
        schedule = sched.parse(forms.schedule(values), default_tz)
    except sched.ScheduleError as exc:
        return [], exc
    return series.upcoming(schedule, _now(), 5,
                           ends_at=task_series.ends_at(values, schedule.timezone)), None


@bp.get("/tasks/preview")
@require_permission(P.VIEW_TASKS)
def preview():
    """The next five runs of the schedule being edited (an htmx fragment)."""
    values = forms.values_from(request.args, current_company().timezone)
    runs, error = _preview(values, current_company().timezone)
    return render_fragment("tasks/form.html", "preview", preview=runs, preview_error=error,
                           values=values)


@bp.get("/tasks/channels")
@require_permission(P.VIEW_TASKS)
def channels():
    """The channel boxes of the report type just chosen (an htmx fragment); without
    JavaScript the next submit shows them."""
    values = forms.values_from(request.args, current_company().timezone)
    return render_fragment("tasks/form.html", "channels", values=values,
                           all_types=registry.REPORT_TYPES)


@bp.route("/tasks/new", methods=["GET", "POST"])
@require_permission(P.CREATE_TASKS)
def create():
    return _edit(None)


@bp.route("/tasks/<int:task_id>/edit", methods=["GET", "POST"])
@require_permission(P.EDIT_TASKS)
def edit(task_id: int):
    task = get_for_company_or_404(Task, task_id)
    if not task.editable:
        flash("This task is running: it can be edited when the run has finished.", "error")
        return redirect(url_for("tasks.show", task_id=task.id))
    return _edit(task)


def _edit(task: Task | None):
    if request.method == "GET":
        return _render_form(task, forms.values_of(task, current_company().timezone), 1)
    values = forms.values_from(request.form, current_company().timezone)
    action = request.form.get("action", "")
    step = 2 if request.form.get("step") == "2" else 1
    if action == "add_email":
        values["emails"].append("")
        return _render_form(task, values, 2)
    if action.startswith("remove_email:"):
        index = int(action.split(":", 1)[1]) if action.split(":", 1)[1].isdigit() else -1
        if 0 <= index < len(values["emails"]):
            values["emails"].pop(index)
        return _render_form(task, values, 2)
    if action in ("back", "preview"):  # "preview": the no-JavaScript way to refresh it
        return _render_form(task, values, 1)
    if action == "test_connection":
        return _test_connection(task, values)
    company = current_company()
    try:
        data = task_service.validate(company, forms.payload(request.form), task)
    except InputError as exc:
        errors = exc.fields
        step1 = {k: v for k, v in errors.items() if k.split(".")[0] in STEP1_FIELDS}
        if step == 1:
            if step1:
                return _render_form(task, values, 1, step1, 422)
            return _render_form(task, values, 2)  # recipients come next
        return _render_form(task, values, 1 if step1 else 2, errors, 422)
    if step == 1:
        return _render_form(task, values, 2)
    try:
        saved = task_service.save(company, data, _now(), task)
    except InputError as exc:
        db.session.rollback()
        return _render_form(task, values, 1, exc.fields, 422)
    except task_service.TaskBusy as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("tasks.show", task_id=task.id))
    db.session.commit()
    flash(f"Task “{saved.name}” saved.")
    return redirect(url_for("tasks.show", task_id=saved.id))


def _test_connection(task: Task | None, values: dict):
    """"Test connection": the outcome, and for SFTP the key that saving will pin. With htmx
    only the result block is replaced (the passwords typed stay in their fields)."""
    errors = {}
    result = None
    try:
        result = task_service.test_connection(forms.server(request.form), task,
                                              current_user.id)
    except InputError as exc:
        errors = {f"recipients.{k}": v for k, v in exc.fields.items()}
    except TooManyTests as exc:
        result = TestResult(False, f"{exc} (again in {exc.retry_after} s)")
    if result is not None and result.fingerprint:
        values["server_host_key_fingerprint"] = result.fingerprint
    # 200 either way: a check, not a save (and htmx swaps only 2xx answers).
    return _render_form(task, values, 2, errors, server_test=result, block="server_test")


@bp.post("/tasks/<int:task_id>/delete")
@require_permission(P.DELETE_TASKS)
def delete(task_id: int):
    task = get_for_company_or_404(Task, task_id)
    try:
        task_service.delete(task)
    except task_service.TaskBusy as exc:
        flash(str(exc), "error")
        return redirect(url_for("tasks.show", task_id=task.id))
    db.session.commit()
    flash(f"Task “{task.name}” deleted.")
    return redirect(url_for("tasks.index"))


@bp.post("/tasks/<int:task_id>/run")
@require_permission(P.EDIT_TASKS)
def run_now(task_id: int):
    task = get_for_company_or_404(Task, task_id)
    try:
        run = task_service.run_now(task, _now())
    except task_service.TaskBusy as exc:
        flash(str(exc), "error")
        return redirect(url_for("tasks.show", task_id=task.id))
    flash("The report is being built.")
    return redirect(url_for("runs.show", run_id=run.id))
