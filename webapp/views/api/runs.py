"""Runs: run now, a task's history, one run, its CSV; and "Test connection" of a server."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask import jsonify, request

from roles import permissions as P
from roles.access import can, require_permission

from ...extensions import db
from ...models import Run, Task
from ...schemas.runs import RunSchema
from ...schemas.tasks import ConnectionTestSchema
from ...services import downloads
from ...services import tasks as task_service
from ...services.errors import InputError
from ...tenancy import get_for_company_or_404
from .blueprint import bp
from .errors import error_response, forbidden, invalid


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
        409:
          description: A run of the task is already queued or running (its id in error.run_id)
          content: {application/json: {schema: Error}}
    """
    task = get_for_company_or_404(Task, task_id)
    try:
        run = task_service.run_now(task, datetime.now(UTC))
    except task_service.RunPending as exc:
        return error_response(409, "run_pending", str(exc), run_id=exc.run.id)
    except task_service.TaskBusy as exc:
        return error_response(409, "task_running", str(exc))
    return jsonify(RunSchema().dump(run)), 202


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
    return jsonify(RunSchema(many=True).dump(runs))


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
    return jsonify(RunSchema().dump(downloads.visible_run(run_id)))


@bp.get("/runs/<int:run_id>/csv")
def get_run_csv(run_id: int):
    """The run's CSV; needs the report type's download permission.
    ---
    get:
      summary: Download a run's CSV
      parameters: [{name: run_id, in: path, required: true, schema: {type: integer}}]
      responses:
        200: {description: The CSV, content: {text/csv: {schema: {type: string, format: binary}}}}
        403: {description: No download permission, content: {application/json: {schema: Error}}}
        404: {description: No such run or no file, content: {application/json: {schema: Error}}}
    """
    return downloads.send_report(run_id)


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
    if not (can(P.CREATE_TASKS) or can(P.EDIT_TASKS)):
        return forbidden(P.EDIT_TASKS)
    task = None
    task_id = request.args.get("task_id")
    if task_id:
        if not task_id.isdigit():
            return invalid(InputError({"task_id": "Task id must be a whole number."}))
        task = get_for_company_or_404(Task, int(task_id))
    try:
        result = task_service.test_connection(request.get_json(silent=True), task)
    except InputError as exc:
        return invalid(exc)
    return jsonify(ConnectionTestSchema().dump(result))
