"""Report types, schedule previews, tasks and runs."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask import jsonify, request
from flask_login import current_user

from jobs import schedule as sched
from jobs.reports import registry
from roles import permissions as P
from roles.access import can, require_permission
from roles.viewer import download_blockers

from ...extensions import db
from ...models import Run, Task
from ...services import servers
from ...services import tasks as task_service
from ...services.people import InputError
from ...tenancy import current_company, get_for_company_or_404
from ..runs import load_visible_run, send_run_csv
from . import bp
from .errors import error_response, forbidden, invalid
from .serialize import run_json, task_json


def _task_with_notes(task: Task) -> dict:
    data = task_json(task, task_service.last_run(task))
    data["recipients_without_download"] = [
        {"email": e, "reason": r}
        for e, r in download_blockers(task.company_id, task.recipient_emails,
                                     task.report_type).items()]
    return data


@bp.get("/report-types")
def report_types():
    """The report types.
    ---
    get:
      summary: List the report types
      responses:
        200:
          description: Every report type, with whether it can be created
          content:
            application/json:
              schema:
                type: array
                items: ReportType
    """
    return jsonify([t.as_dict() for t in registry.REPORT_TYPES.values()])


@bp.get("/schedules/preview")
def schedule_preview():
    """The next runs of a schedule, with their windows.
    ---
    get:
      summary: Preview a schedule
      parameters:
        - {name: kind, in: query, required: true, schema: {type: string, enum: [daily, hourly, weekly, monthly]}}
        - {name: time, in: query, required: true, schema: {type: string, example: "06:30"}}
        - {name: every, in: query, schema: {type: integer}}
        - {name: weekday, in: query, schema: {type: string, enum: [mon, tue, wed, thu, fri, sat, sun]}}
        - {name: day, in: query, schema: {type: integer, minimum: 1, maximum: 28}}
        - {name: timezone, in: query, schema: {type: string}}
        - {name: count, in: query, schema: {type: integer, minimum: 1, maximum: 100, default: 5}}
        - {name: after, in: query, schema: {type: string, format: date-time}}
      responses:
        200:
          description: The runs
          content:
            application/json:
              schema: Preview
        422:
          description: Invalid schedule
          content:
            application/json:
              schema: Error
    """
    args = request.args
    errors = {}
    count = args.get("count", "5")
    if not count.isdigit() or not 1 <= int(count) <= 100:
        errors["count"] = "Count must be a whole number from 1 to 100."
    after = datetime.now(UTC)
    if args.get("after"):
        try:
            raw = args["after"]
            if " " in raw and "+" not in raw:  # an unencoded "+hh:mm" arrives as " hh:mm"
                raw = "+".join(raw.rsplit(" ", 1))
            after = datetime.fromisoformat(raw)
            if after.tzinfo is None or not 1970 <= after.year <= 9000:  # runs stay in range
                raise ValueError
        except ValueError:
            errors["after"] = "After must be an ISO 8601 time with an offset, in the years " \
                              "1970 to 9000."
    data = {k: args[k] for k in ("kind", "time", "every", "weekday", "day", "timezone")
            if k in args}
    try:
        schedule = sched.parse(data, current_company().timezone)
    except sched.ScheduleError as exc:
        errors.update(exc.fields)
    if errors:
        return invalid(InputError(errors))
    runs = sched.upcoming(schedule, after, int(count))
    tz = schedule.tz
    return jsonify({"runs": [{"run_at": w.run_at.astimezone(tz).isoformat(),
                              "window_start": w.start.astimezone(tz).isoformat(),
                              "window_end": w.end.astimezone(tz).isoformat()} for w in runs]})


@bp.get("/tasks")
@require_permission(P.VIEW_TASKS)
def list_tasks():
    """The company's tasks.
    ---
    get:
      summary: List tasks
      responses:
        200:
          description: The tasks
          content:
            application/json:
              schema: {type: array, items: Task}
    """
    tasks = db.session.scalars(sa.select(Task).where(Task.company_id == current_user.company_id)
                               .order_by(Task.id)).all()
    return jsonify([task_json(t, task_service.last_run(t)) for t in tasks])


@bp.post("/tasks")
@require_permission(P.CREATE_TASKS)
def create_task():
    """Create a task.
    ---
    post:
      summary: Create a task
      requestBody:
        required: true
        content:
          application/json:
            schema: TaskInput
      responses:
        201:
          description: The task
          content:
            application/json:
              schema: Task
        422:
          description: Invalid fields
          content:
            application/json:
              schema: Error
    """
    payload = request.get_json(silent=True)
    company = current_company()
    try:
        data = task_service.validate(company, payload)
        task = task_service.save(company, data, datetime.now(UTC))
    except InputError as exc:
        db.session.rollback()
        return invalid(exc)
    db.session.commit()
    return jsonify(_task_with_notes(task)), 201


@bp.get("/tasks/<int:task_id>")
@require_permission(P.VIEW_TASKS)
def get_task(task_id: int):
    """One task.
    ---
    get:
      summary: Read a task
      parameters: [{name: task_id, in: path, required: true, schema: {type: integer}}]
      responses:
        200: {description: The task, content: {application/json: {schema: Task}}}
        404: {description: No such task in your company, content: {application/json: {schema: Error}}}
    """
    return jsonify(_task_with_notes(get_for_company_or_404(Task, task_id)))


@bp.patch("/tasks/<int:task_id>")
@require_permission(P.EDIT_TASKS)
def edit_task(task_id: int):
    """Edit a task: the fields given replace the task's.
    ---
    patch:
      summary: Edit a task
      parameters: [{name: task_id, in: path, required: true, schema: {type: integer}}]
      requestBody: {required: true, content: {application/json: {schema: TaskInput}}}
      responses:
        200: {description: The task, content: {application/json: {schema: Task}}}
        409: {description: The task is running, content: {application/json: {schema: Error}}}
        422: {description: Invalid fields, content: {application/json: {schema: Error}}}
    """
    task = get_for_company_or_404(Task, task_id)
    if task.status == "running":
        return error_response(409, "task_running", "This task is running; edit it when the "
                                                   "run has finished.")
    company = current_company()
    try:
        data = task_service.validate(company, request.get_json(silent=True), task)
        task = task_service.save(company, data, datetime.now(UTC), task)
    except InputError as exc:
        db.session.rollback()
        return invalid(exc)
    except task_service.TaskBusy as exc:
        db.session.rollback()
        return error_response(409, "task_running", str(exc))
    db.session.commit()
    return jsonify(_task_with_notes(task))


@bp.delete("/tasks/<int:task_id>")
@require_permission(P.DELETE_TASKS)
def delete_task(task_id: int):
    """Delete a task.
    ---
    delete:
      summary: Delete a task
      parameters: [{name: task_id, in: path, required: true, schema: {type: integer}}]
      responses:
        204: {description: Deleted}
        409: {description: The task is running, content: {application/json: {schema: Error}}}
    """
    task = get_for_company_or_404(Task, task_id)
    try:
        task_service.delete(task)
    except task_service.TaskBusy as exc:
        db.session.rollback()
        return error_response(409, "task_running", str(exc))
    db.session.commit()
    return "", 204


@bp.post("/tasks/<int:task_id>/runs")
@require_permission(P.EDIT_TASKS)
def run_task_now(task_id: int):
    """Run a task now: an extra run whose window ends now.
    ---
    post:
      summary: Run now
      parameters: [{name: task_id, in: path, required: true, schema: {type: integer}}]
      responses:
        202: {description: The queued run, content: {application/json: {schema: Run}}}
        409: {description: The task is running, content: {application/json: {schema: Error}}}
    """
    from jobs.dispatch import enqueue

    task = get_for_company_or_404(Task, task_id)
    try:
        run = task_service.run_now(task, datetime.now(UTC))
    except task_service.TaskBusy as exc:
        db.session.rollback()
        return error_response(409, "task_running", str(exc))
    db.session.commit()
    enqueue(run.id)
    return jsonify(run_json(run)), 202


@bp.get("/tasks/<int:task_id>/runs")
@require_permission(P.VIEW_TASKS)
def task_runs(task_id: int):
    """A task's run history, newest first.
    ---
    get:
      summary: Run history
      parameters: [{name: task_id, in: path, required: true, schema: {type: integer}}]
      responses:
        200: {description: The runs, content: {application/json: {schema: {type: array, items: Run}}}}
    """
    task = get_for_company_or_404(Task, task_id)
    runs = db.session.scalars(sa.select(Run).where(Run.task_id == task.id)
                              .order_by(Run.id.desc()).limit(500))
    return jsonify([run_json(r) for r in runs])


@bp.get("/runs/<int:run_id>")
def get_run(run_id: int):
    """One run with its deliveries.
    ---
    get:
      summary: Read a run
      parameters: [{name: run_id, in: path, required: true, schema: {type: integer}}]
      responses:
        200: {description: The run, content: {application/json: {schema: Run}}}
        404: {description: No such run in your company, content: {application/json: {schema: Error}}}
    """
    return jsonify(run_json(load_visible_run(run_id)))


@bp.get("/runs/<int:run_id>/csv")
def get_run_csv(run_id: int):
    """The run's CSV; needs the report type's download permission.
    ---
    get:
      summary: Download a run's CSV
      parameters: [{name: run_id, in: path, required: true, schema: {type: integer}}]
      responses:
        200: {description: The CSV, content: {text/csv: {schema: {type: string}}}}
        403: {description: No download permission, content: {application/json: {schema: Error}}}
        404: {description: No such run or no file, content: {application/json: {schema: Error}}}
    """
    return send_run_csv(get_for_company_or_404(Run, run_id))


@bp.post("/servers/test")
def test_server():
    """Test an upload server's settings before saving them ("Test connection").
    ---
    post:
      summary: Test connection to an FTP/FTPS/SFTP server
      description: Connects (through the proxy, if any), logs in and opens the remote directory; nothing is uploaded. For SFTP the answer gives the server's host key fingerprint, which the task pins when it is saved with it. With `task_id`, passwords left out are the task's stored ones.
      parameters:
        - {name: task_id, in: query, required: false, schema: {type: integer}}
      requestBody: {required: true, content: {application/json: {schema: Server}}}
      responses:
        200: {description: The outcome (ok false with the exact failure), content: {application/json: {schema: ConnectionTest}}}
        422: {description: Invalid settings, content: {application/json: {schema: Error}}}
    """
    from jobs.delivery.attempts import timeouts

    if not (can(P.CREATE_TASKS) or can(P.EDIT_TASKS)):
        return forbidden(P.EDIT_TASKS)
    stored = None
    task_id = request.args.get("task_id")
    if task_id:
        if not task_id.isdigit():
            return invalid(InputError({"task_id": "Task id must be a whole number."}))
        stored = get_for_company_or_404(Task, int(task_id)).server
    try:
        result = servers.test_connection(request.get_json(silent=True), stored, timeouts())
    except InputError as exc:
        return invalid(exc)
    return jsonify({"ok": result.ok, "message": result.message,
                    "host_key_fingerprint": result.fingerprint})
