"""Lists: the query of each list (filters, keyset cursor, page size) and the page it answers,
one schema per shape. The portal's list pages read the same queries."""

from __future__ import annotations

from marshmallow import Schema, fields, pre_load
from marshmallow.validate import Length, OneOf, Range

from jobs.reports import registry

from ..models.runs import RUN_STATUSES, RUN_TRIGGERS
from ..models.tasks import TASK_STATUSES
from .fields import derived, says
from .runs import RunSchema
from .tasks import TaskSchema

CURSOR_MESSAGE = "Cursor must be the next_cursor of a previous page."
CURSOR_PATTERN = r"^[1-9][0-9]{0,8}$"  # an id (a 32-bit column): any such cursor is accepted
MAX_ID = 2**31 - 1
LIMIT_MESSAGE = "Limit must be a whole number from 1 to 200."
TASK_SORTS = ("name", "-name", "type", "-type", "next_run", "-next_run", "status", "-status",
              "created", "-created")


class Cursor(fields.Integer):
    """The id after which the next page starts (as text in the answer's ``next_cursor``)."""

    def __init__(self, **kwargs):
        super().__init__(validate=Range(1, MAX_ID, error=CURSOR_MESSAGE),
                         error_messages=says(CURSOR_MESSAGE), metadata={
                             "type": "string", "description": "next_cursor of the previous page",
                             "pattern": CURSOR_PATTERN},
                         **kwargs)


def _choice(values, label: str) -> fields.String:
    message = f"{label} must be one of {', '.join(values)}."
    return fields.String(validate=OneOf(values, error=message), error_messages=says(message))


class ListQuerySchema(Schema):
    """What every list takes: the cursor and the page size. Empty arguments are left out."""

    class Meta:
        unknown = "exclude"

    cursor = Cursor()
    limit = fields.Integer(load_default=50, validate=Range(1, 200, error=LIMIT_MESSAGE),
                           error_messages=says(LIMIT_MESSAGE))

    @pre_load
    def _drop_empty(self, data, **kwargs):
        return {k: v.strip() for k, v in data.items() if isinstance(v, str) and v.strip()}


class TaskListQuerySchema(ListQuerySchema):
    q = fields.String(validate=Length(max=120, error="Search must be at most 120 characters."),
                      metadata={"description": "part of the task's name"})
    report_type = _choice([t.key for t in registry.REPORT_TYPES.values()], "Report type")
    status = _choice(TASK_STATUSES, "Status")
    active = fields.Boolean(truthy={"true", "1", "on"}, falsy={"false", "0", "off"},
                            error_messages=says("Activated must be true or false."),
                            metadata={"description": "true: activated tasks only; false: "
                                                     "the others"})


class TaskListPortalQuerySchema(TaskListQuerySchema):
    """The portal's task list also sorts, by page numbers (a company has a few hundred tasks
    at most: the API pages by id)."""

    sort = _choice(TASK_SORTS, "Sort")
    page = fields.Integer(load_default=1, validate=Range(1, 100_000, error=(
        "Page must be a whole number from 1.")), error_messages=says(
        "Page must be a whole number from 1."))


class RunListQuerySchema(ListQuerySchema):
    status = _choice(RUN_STATUSES, "Status")
    trigger = _choice(RUN_TRIGGERS, "Trigger")


class OutboxQuerySchema(ListQuerySchema):
    to = fields.String(validate=Length(max=254, error="To must be at most 254 characters."))
    q = fields.String(validate=Length(max=200, error="Search must be at most 200 characters."))


class _Page(Schema):
    next_cursor = fields.String(allow_none=True, metadata={
        "description": "the cursor of the next page; null on the last"})


class TaskListItemSchema(TaskSchema):
    """A task in a list: without the recipients who cannot download (one task's answer)."""

    class Meta:
        exclude = ("recipients_without_download",)


class TaskPageSchema(_Page):
    tasks = fields.List(fields.Nested(TaskListItemSchema))


class RunPageSchema(_Page):
    runs = fields.List(fields.Nested(RunSchema))


class AuditEventSchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String(metadata={"description": "an email, or system"})
    action = fields.String()
    result = fields.String()
    target_type = fields.String(allow_none=True)
    target_id = fields.Integer(allow_none=True)
    target_name = fields.String(allow_none=True)
    details = derived(fields.Dict(), lambda event: event.details or {})
    ip = fields.String(allow_none=True, attribute="remote_addr")


class AuditPageSchema(_Page):
    events = fields.List(fields.Nested(AuditEventSchema))
