"""Report types, schedule previews and tasks."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import jsonify, request
from flask_login import current_user

from jobs import series
from jobs.reports import registry
from roles import permissions as P
from roles.access import require_permission

from ...extensions import db
from ...models import Task
from ...schemas.fast import dumper
from ...schemas.lists import TaskPageSchema
from ...schemas.preview import PreviewQuerySchema, PreviewSchema
from ...schemas.tasks import ReportTypeSchema, TaskSchema
from ...services import lists
from ...services import tasks as task_service
from ...services.errors import InputError, load
from ...tenancy import current_company, get_for_company_or_404
from .blueprint import bp
from .errors import error_response, invalid

TASK_PAGE = TaskPageSchema()  # built once: building a schema costs more than a page's dump
TASK_PAGE_DUMP = dumper(TASK_PAGE)  # the same dictionary, faster (schemas/fast.py)


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
    return jsonify(ReportTypeSchema(many=True).dump(registry.REPORT_TYPES.values()))


@bp.get("/schedules/preview")
def schedule_preview():
    """The next runs of a schedule, with their windows.
    ---
    get:
      summary: Preview a schedule
      parameters: [{in: query, schema: PreviewQuerySchema}]
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
    query, errors = load(PreviewQuerySchema(timezone=current_company().timezone),
                         request.args.to_dict())
    if errors:
        return invalid(InputError(errors))
    schedule = query["schedule"]
    runs = series.upcoming(schedule, query["after"], query["count"], ends_at=query["ends_at"])
    return jsonify(PreviewSchema().dump({"runs": [
        {"run_at": w.run_at.astimezone(schedule.tz), "window_start": w.start.astimezone(
            schedule.tz), "window_end": w.end.astimezone(schedule.tz)} for w in runs]}))


@bp.get("/tasks")
@require_permission(P.VIEW_TASKS)
def list_tasks():
    """The company's tasks, by id, a page at a time.
    ---
    get:
      summary: List tasks
      parameters: [{in: query, schema: TaskListQuerySchema}]
      responses:
        200:
          description: One page of tasks and the cursor of the next (null at the end)
          content:
            application/json:
              schema: TaskPage
        422: {description: Invalid filters, content: {application/json: {schema: Error}}}
    """
    try:
        query = lists.task_query(False, request.args)
    except InputError as exc:
        return invalid(exc)
    page = lists.tasks(current_user.company_id, query)
    return jsonify(TASK_PAGE_DUMP({"tasks": page.items, "next_cursor": page.next_cursor}))


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
            schema: Task
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
    return jsonify(TaskSchema().dump(task)), 201


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
    return jsonify(TaskSchema().dump(get_for_company_or_404(Task, task_id)))


@bp.patch("/tasks/<int:task_id>")
@require_permission(P.EDIT_TASKS)
def edit_task(task_id: int):
    """Edit a task: the fields given replace the task's.
    ---
    patch:
      summary: Edit a task
      parameters: [{name: task_id, in: path, required: true, schema: {type: integer}}]
      requestBody: {required: true, content: {application/json: {schema: Task}}}
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
    return jsonify(TaskSchema().dump(task))


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
