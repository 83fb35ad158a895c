"""Scheduled Reports: the task list, the two-step create/edit form, run now, delete."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from jobs.reports import registry
from roles import permissions as P
from roles.access import can, require_permission
from roles.viewer import download_blockers

from ..extensions import db
from ..htmx import render
from ..models import Task
from ..models.runs import RUN_STATUSES, RUN_TRIGGERS
from ..models.tasks import TASK_STATUSES
from ..services import lists, send_test
from ..services import tasks as task_service
from ..services.errors import InputError
from ..tenancy import current_company, get_for_company_or_404
from . import task_form, task_series
from .listing import kept, parsed, status

bp = Blueprint("tasks", __name__)


@bp.before_request
@login_required
def _login():
    return None


@bp.get("/")
def home():
    """The task list for those who may see it; everyone else's reports otherwise."""
    return redirect(url_for("tasks.index" if can(P.VIEW_TASKS) else "my.reports"))


@bp.get("/tasks")
@require_permission(P.VIEW_TASKS)
def index():
    """The task list: search, filters (type, status, activated), sorting and pages."""
    company_id = current_user.company_id
    query, errors = parsed(lambda args: lists.task_query(True, args))
    page = lists.tasks_by_page(company_id, query)
    active = db.session.scalar(sa.select(sa.func.count(Task.id)).where(
        Task.company_id == company_id, Task.active.is_(True)))
    today = task_form.now().astimezone(ZoneInfo(current_company().timezone)).date()
    pages = max(1, -(-page.total // query["limit"]))
    return render("tasks/index.html", tasks=page.items, total=page.total, query=query,
                  pages=pages, args=kept("page"), errors=errors, registry=registry, active=active,
                  limit=task_service.MAX_ACTIVE_TASKS,
                  statuses=TASK_STATUSES,
                  ends_label=lambda task: task_series.ends_label(task, today)), status(errors)


@bp.get("/tasks/<int:task_id>")
@require_permission(P.VIEW_TASKS)
def show(task_id: int):
    task = get_for_company_or_404(Task, task_id)
    page, errors = parsed(lambda args: lists.runs(task, args))
    return render("tasks/show.html", task=task, runs=page.items, cursor=page.next_cursor,
                  args=kept(only=("status", "trigger")), errors=errors,
                  report=registry.get(task.report_type),
                  run_statuses=RUN_STATUSES, run_triggers=RUN_TRIGGERS,
                  blockers=download_blockers(task.company_id, task.recipient_emails,
                                             task.report_type)), status(errors)


@bp.get("/tasks/preview")
@require_permission(P.VIEW_TASKS)
def preview():
    """The next five runs of the schedule being edited (an htmx fragment)."""
    return task_form.fragment("preview")


@bp.get("/tasks/channels")
@require_permission(P.VIEW_TASKS)
def channels():
    """The fields that follow the report type just chosen: its channels and options (an htmx
    fragment); without JavaScript, "Show the fields of this report type" does it."""
    return task_form.fragment("type_fields")


@bp.get("/tasks/schedule-fields")
@require_permission(P.VIEW_TASKS)
def schedule_fields():
    """The schedule fields of the repeat kind just chosen (an htmx fragment)."""
    return task_form.fragment("schedule_fields")


@bp.route("/tasks/new", methods=["GET", "POST"])
@require_permission(P.CREATE_TASKS)
def create():
    return task_form.new_form(None) if request.method == "GET" else task_form.submit(None)


@bp.get("/tasks/<int:task_id>/duplicate")
@require_permission(P.CREATE_TASKS)
def duplicate(task_id: int):
    """A new task's form filled in from this one (saved only when the user saves it)."""
    return task_form.duplicate_form(get_for_company_or_404(Task, task_id))


@bp.route("/tasks/<int:task_id>/edit", methods=["GET", "POST"])
@require_permission(P.EDIT_TASKS)
def edit(task_id: int):
    task = get_for_company_or_404(Task, task_id)
    if not task.editable:
        flash("This task is running: it can be edited when the run has finished.", "error")
        return redirect(url_for("tasks.show", task_id=task.id))
    return task_form.new_form(task) if request.method == "GET" else task_form.submit(task)


@bp.post("/tasks/<int:task_id>/active")
@require_permission(P.EDIT_TASKS)
def set_active(task_id: int):
    """The Activated toggle of the list and the task page."""
    task = get_for_company_or_404(Task, task_id)
    active = request.form.get("active") == "1"
    back = url_for("tasks.index") if request.form.get("next") == "index" else \
        url_for("tasks.show", task_id=task.id)
    try:
        task_service.set_active(current_company(), task, active, task_form.now())
    except (task_service.TaskBusy, InputError) as exc:
        db.session.rollback()
        flash("; ".join(exc.fields.values()) if isinstance(exc, InputError) else str(exc),
              "error")
        return redirect(back)
    db.session.commit()
    flash(f"Task “{task.name}” {'activated' if active else 'deactivated'}.")
    return redirect(back)


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
    return _start(task, lambda: task_service.run_now(task, task_form.now()))


@bp.post("/tasks/<int:task_id>/send-test")
@require_permission(P.EDIT_TASKS)
def send_test_now(task_id: int):
    """Build the report now and email it only to the user who pressed Send test."""
    task = get_for_company_or_404(Task, task_id)
    return _start(task, lambda: send_test.send_test(task, current_user, task_form.now()),
                  f"Test of “{task.name}” queued: it is emailed to {current_user.email} only.")


def _start(task: Task, start, done: str | None = None):
    """Start a run by hand and show it; a second click or tab shows the run under way."""
    try:
        run = start()
    except task_service.RunPending as exc:
        flash(str(exc), "error")
        return redirect(url_for("runs.show", run_id=exc.run.id))
    except task_service.TaskBusy as exc:
        flash(str(exc), "error")
        return redirect(url_for("tasks.show", task_id=task.id))
    if done:
        flash(done)
    return redirect(url_for("runs.show", run_id=run.id))
