"""Scheduled Reports: the task list, the two-step create/edit form, run now, delete."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from jobs import schedule as sched
from jobs.reports import registry
from roles import permissions as P
from roles.access import require_permission
from roles.viewer import download_blockers

from ..extensions import db
from ..htmx import render, render_fragment
from ..models import Run, Task
from ..services import servers
from ..services import tasks as task_service
from ..services.people import InputError
from ..tenancy import current_company, get_for_company_or_404

bp = Blueprint("tasks", __name__)

STEP1_FIELDS = ("name", "report_type", "channels", "schedule", "options", "active")


@bp.before_request
@login_required
def _login():
    return None


def _now() -> datetime:
    return datetime.now(UTC)


@bp.get("/")
def home():
    return redirect(url_for("tasks.index"))


@bp.get("/tasks")
@require_permission(P.VIEW_TASKS)
def index():
    tasks = db.session.scalars(sa.select(Task).where(Task.company_id == current_user.company_id)
                               .order_by(Task.name, Task.id)).all()
    last_runs = {}
    if tasks:
        latest = sa.select(sa.func.max(Run.id)).where(
            Run.company_id == current_user.company_id).group_by(Run.task_id)
        last_runs = {r.task_id: r for r in db.session.scalars(
            sa.select(Run).where(Run.id.in_(latest)))}
    active = sum(t.active for t in tasks)
    return render("tasks/index.html", "task_table", tasks=tasks, last_runs=last_runs,
                  registry=registry, active=active, limit=task_service.MAX_ACTIVE_TASKS)


@bp.get("/tasks/<int:task_id>")
@require_permission(P.VIEW_TASKS)
def show(task_id: int):
    task = get_for_company_or_404(Task, task_id)
    runs = db.session.scalars(sa.select(Run).where(Run.task_id == task.id)
                              .order_by(Run.id.desc()).limit(200)).all()
    return render("tasks/show.html", "runs_table", task=task, runs=runs,
                  report=registry.get(task.report_type),
                  blockers=download_blockers(task.company_id, task.recipient_emails,
                                             task.report_type))


def form_payload(form) -> dict:
    """The form's fields in the API's task shape, so both share one validation."""
    kind = form.get("schedule_kind", "")
    schedule = {"kind": kind, "time": form.get("schedule_time", ""),
                "timezone": form.get("timezone", "")}
    if kind == "hourly":
        schedule["every"] = form.get("schedule_every_hours", "")
    elif kind == "monthly":
        schedule["every"] = form.get("schedule_every_months", "")
        schedule["day"] = form.get("schedule_day", "")
    elif kind == "weekly":
        schedule["weekday"] = form.get("schedule_weekday", "")
    days = form.get("inactivity_days", "14").strip()
    return {
        "name": form.get("name", ""),
        "report_type": form.get("report_type", ""),
        "channels": form.getlist("channels"),
        "schedule": schedule,
        "recipients": {"emails": [e for e in form.getlist("emails") if e.strip()],
                       "server": server_payload(form)},
        "options": {"inactivity_days": int(days) if days.isdigit() else days,
                    "org_unit_ids": [o.strip() for o in form.get("org_unit_ids", "").split(",")
                                     if o.strip()],
                    "excel_bom": form.get("excel_bom") == "1"},
        "active": form.get("active") == "1",
    }


SERVER_FIELDS = ("server_transport", "server_host", "server_port", "server_username",
                 "server_directory", "server_host_key_fingerprint", "proxy_type", "proxy_host",
                 "proxy_port", "proxy_username")  # the passwords are never echoed back


def server_payload(form) -> dict | None:
    """The form's server fields in the API's shape; an empty password keeps the stored one."""
    transport = form.get("server_transport", "")
    if not transport:
        return None
    proxy = None
    if form.get("proxy_type"):
        proxy = {"type": form.get("proxy_type"), "host": form.get("proxy_host", ""),
                 "port": form.get("proxy_port", ""),
                 "username": form.get("proxy_username", "") or None,
                 "password": form.get("proxy_password", "") or None}
    return {"transport": transport, "host": form.get("server_host", ""),
            "port": form.get("server_port", ""), "username": form.get("server_username", ""),
            "password": form.get("server_password", "") or None,
            "directory": form.get("server_directory", ""),
            "host_key_fingerprint": form.get("server_host_key_fingerprint", "") or None,
            "proxy": proxy}


def _server_values(server: dict | None) -> dict:
    server = server or {}
    proxy = server.get("proxy") or {}
    return {"server_transport": server.get("transport") or "",
            "server_host": server.get("host") or "", "server_port": str(server.get("port") or ""),
            "server_username": server.get("username") or "",
            "server_directory": server.get("directory") or "",
            "server_host_key_fingerprint": server.get("host_key_fingerprint") or "",
            "proxy_type": proxy.get("type") or "", "proxy_host": proxy.get("host") or "",
            "proxy_port": str(proxy.get("port") or ""),
            "proxy_username": proxy.get("username") or ""}


def _form_values(task: Task | None) -> dict:
    company = current_company()
    if task is None:
        return {"name": "", "report_type": "usage_by_rooms", "channels": [],
                "schedule_kind": "daily", "schedule_time": "06:30", "schedule_every_hours": "4",
                "schedule_every_months": "1", "schedule_day": "1", "schedule_weekday": "mon",
                "timezone": company.timezone, "emails": [""], "inactivity_days": "14",
                "org_unit_ids": "", "excel_bom": False, "active": True, **_server_values(None)}
    s = task.schedule
    return {"name": task.name, "report_type": task.report_type, "channels": task.channels,
            "schedule_kind": s.kind, "schedule_time": task.schedule_time,
            "schedule_every_hours": str(s.every or 4) if s.kind == "hourly" else "4",
            "schedule_every_months": str(s.every or 1) if s.kind == "monthly" else "1",
            "schedule_day": str(s.day or 1), "schedule_weekday":
                sched.WEEKDAYS[s.weekday] if s.weekday is not None else "mon",
            "timezone": task.timezone, "emails": task.recipient_emails or [""],
            "inactivity_days": str(task.options.get("inactivity_days", 14)),
            "org_unit_ids": ", ".join(task.options.get("org_unit_ids", [])),
            "excel_bom": bool(task.options.get("excel_bom")), "active": task.active,
            **_server_values(task.server)}


def _values_from_form(form) -> dict:
    values = {k: form.get(k, "") for k in (
        "name", "report_type", "schedule_kind", "schedule_time", "schedule_every_hours",
        "schedule_every_months", "schedule_day", "schedule_weekday", "timezone",
        "inactivity_days", "org_unit_ids") + SERVER_FIELDS}
    values["channels"] = form.getlist("channels")
    values["emails"] = form.getlist("emails") or [""]
    values["excel_bom"] = form.get("excel_bom") == "1"
    values["active"] = form.get("active") == "1"
    # An empty time zone means the company's, as in the API: show the preview in it.
    values["timezone"] = values["timezone"] or current_company().timezone
    return values


def _render_form(task: Task | None, values: dict, step: int, errors: dict | None = None,
                 status: int = 200, server_test=None, block: str | None = None):
    company = current_company()
    preview, preview_error = _preview(values, company.timezone)
    blockers = download_blockers(company.id, [e for e in values["emails"] if e.strip()],
                                 values.get("report_type") or None)
    return render("tasks/form.html", block, task=task, values=values, step=step,
                  errors=errors or {}, report_types=registry.creatable(),
                  all_types=registry.REPORT_TYPES, weekdays=sched.WEEKDAYS,
                  hourly_every=sched.HOURLY_EVERY, timezones=sched.timezone_names(),
                  preview=preview, preview_error=preview_error, blockers=blockers,
                  server_test=server_test, stored_server=task.server if task else None,
                  server_fields=SERVER_FIELDS), status


def _preview(values: dict, default_tz: str):
    try:
        schedule = sched.parse(form_payload(_as_form(values))["schedule"], default_tz)
    except sched.ScheduleError as exc:
        return [], exc
    return sched.upcoming(schedule, _now(), 5), None


class _as_form(dict):
    def getlist(self, key):
        value = self.get(key, [])
        return value if isinstance(value, list) else [value]

    def get(self, key, default=None):
        value = super().get(key, default)
        if isinstance(value, bool):
            return "1" if value else ""
        return value


@bp.get("/tasks/preview")
@require_permission(P.VIEW_TASKS)
def preview():
    """The next five runs of the schedule being edited (an htmx fragment)."""
    values = _values_from_form(request.args)
    runs, error = _preview(values, current_company().timezone)
    return render_fragment("tasks/form.html", "preview", preview=runs, preview_error=error,
                           values=values)


@bp.get("/tasks/channels")
@require_permission(P.VIEW_TASKS)
def channels():
    """The channel boxes of the report type just chosen (an htmx fragment); without
    JavaScript the next submit shows them."""
    return render_fragment("tasks/form.html", "channels", values=_values_from_form(request.args),
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
        return _render_form(task, _form_values(task), 1)
    values = _values_from_form(request.form)
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
        data = task_service.validate(company, form_payload(request.form), task)
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
    from jobs.delivery.attempts import timeouts

    errors = {}
    result = None
    try:
        result = servers.test_connection(server_payload(request.form),
                                         task.server if task else None, timeouts())
    except InputError as exc:
        errors = {f"recipients.{k}": v for k, v in exc.fields.items()}
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
    from jobs.dispatch import enqueue

    task = get_for_company_or_404(Task, task_id)
    try:
        run = task_service.run_now(task, _now())
    except task_service.TaskBusy as exc:
        flash(str(exc), "error")
        return redirect(url_for("tasks.show", task_id=task.id))
    db.session.commit()
    enqueue(run.id)
    flash("The report is being built.")
    return redirect(url_for("runs.show", run_id=run.id))
