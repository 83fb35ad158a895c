"""Runs: run now, a task's history, one run, its CSV; and "Test connection" of a server."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import jsonify, request
from flask_login import current_user

from roles import permissions as P
from roles.access import can, require_permission

from ...models import Task
from ...schemas.fast import dumper
from ...schemas.lists import RunPageSchema
from ...schemas.runs import RunSchema
from ...schemas.tasks import ConnectionTestSchema
from ...services import downloads, lists
from ...services import tasks as task_service
from ...services.connection_tests import TooManyTests
from ...services.errors import InputError
from ...tenancy import get_for_company_or_404
from .blueprint import bp
from .errors import error_response, forbidden, invalid

RUN_PAGE = RunPageSchema()  # built once: building a schema costs more than a page's dump
RUN_PAGE_DUMP = dumper(RUN_PAGE)  # the same dictionary, faster (schemas/fast.py)


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
    """A task's run history, newest first, a page at a time.
    ---
    get:
      summary: Run history
      parameters:
        - {name: task_id, in: path, required: true, schema: {type: integer}}
        - {in: query, schema: RunListQuerySchema}
      responses:
        200: {description: One page of runs and the cursor of the next (null at the end), content: {application/json: {schema: RunPage}}}
        422: {description: Invalid filters, content: {application/json: {schema: Error}}}
    """
    task = get_for_company_or_404(Task, task_id)
    try:
        page = lists.runs(task, request.args, deliveries=True)
    except InputError as exc:
        return invalid(exc)
    return jsonify(RUN_PAGE_DUMP({"runs": page.items, "next_cursor": page.next_cursor}))


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
        - {name: task_id, in: query, required: false, schema: {type: integer, minimum: 0}}
      requestBody: {required: true, content: {application/json: {schema: Server}}}
      responses:
        200: {description: The outcome (ok false with the exact failure), content: {application/json: {schema: ConnectionTest}}}
        422: {description: Invalid settings, content: {application/json: {schema: Error}}}
        429: {description: "Too many tests: the user's limit (CONNECTION_TEST_LIMIT) or this process's tests at once; Retry-After says when to try again", content: {application/json: {schema: Error}}}
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
        result = task_service.test_connection(request.get_json(silent=True), task,
                                              current_user.id)
    except InputError as exc:
        return invalid(exc)
    except TooManyTests as exc:
        answer, status = error_response(429, "too_many_requests", str(exc))
        answer.headers["Retry-After"] = str(exc.retry_after)
        return answer, status
    return jsonify(ConnectionTestSchema().dump(result))
