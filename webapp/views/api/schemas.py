"""Marshmallow schemas describing the API's shapes, for the generated OpenAPI document."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from jobs.reports.base import ALL_CHANNELS
from jobs.schedule import KINDS, WEEKDAYS


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", keys=fields.String(), values=fields.String())


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class ReportTypeSchema(Schema):
    key = fields.String()
    name = fields.String()
    channels = fields.List(fields.String())
    delivery = fields.List(fields.String(validate=validate.OneOf(["email", "server"])))
    creatable = fields.Boolean()


class ScheduleSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    time = fields.String(required=True, metadata={"example": "06:30"})
    every = fields.Integer(metadata={"description": "hourly: 1, 2, 3, 4, 6, 12; monthly: 1–12"})
    weekday = fields.String(validate=validate.OneOf(WEEKDAYS))
    day = fields.Integer(validate=validate.Range(1, 28))
    timezone = fields.String(metadata={"description": "IANA name; the company's by default"})


class ProxySchema(Schema):
    type = fields.String(validate=validate.OneOf(["socks5", "http"]))
    host = fields.String()
    port = fields.Integer()
    username = fields.String(allow_none=True)
    password = fields.String(allow_none=True, load_only=True)


class ServerSchema(Schema):
    transport = fields.String(validate=validate.OneOf(["sftp", "ftp", "ftps"]))
    host = fields.String()
    port = fields.Integer()
    username = fields.String()
    password = fields.String(load_only=True, metadata={
        "description": "write-only; left out on an edit, the stored one is kept"})
    directory = fields.String()
    host_key_fingerprint = fields.String(allow_none=True)
    proxy = fields.Nested(ProxySchema, allow_none=True)


class ConnectionTestSchema(Schema):
    ok = fields.Boolean()
    message = fields.String(metadata={"description": "what worked, or exactly what failed"})
    host_key_fingerprint = fields.String(allow_none=True, metadata={
        "description": "SFTP: the key the server presented, SHA256:… as OpenSSH prints it"})


class RecipientsSchema(Schema):
    emails = fields.List(fields.Email())
    server = fields.Nested(ServerSchema, allow_none=True)


class OptionsSchema(Schema):
    inactivity_days = fields.Integer(validate=validate.Range(1, 30), load_default=14)
    org_unit_ids = fields.List(fields.String())
    excel_bom = fields.Boolean(load_default=False)


class TaskInputSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 120))
    report_type = fields.String(required=True)
    channels = fields.List(fields.String(validate=validate.OneOf(ALL_CHANNELS)), required=True)
    schedule = fields.Nested(ScheduleSchema, required=True)
    recipients = fields.Nested(RecipientsSchema, required=True)
    options = fields.Nested(OptionsSchema)
    active = fields.Boolean(load_default=True)


class DeliverySchema(Schema):
    kind = fields.String(validate=validate.OneOf(["email", "server"]))
    target = fields.String()
    status = fields.String(validate=validate.OneOf(["pending", "sent", "failed"]))
    attempts = fields.Integer()
    error = fields.String(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True, metadata={
        "description": "when a failed delivery is retried; null when sent or out of attempts"})


class RunSchema(Schema):
    id = fields.Integer()
    task_id = fields.Integer()
    trigger = fields.String(validate=validate.OneOf(["scheduled", "catch_up", "manual"]))
    scheduled_for = fields.DateTime(allow_none=True)
    window_start = fields.DateTime()
    window_end = fields.DateTime()
    status = fields.String(validate=validate.OneOf(
        ["queued", "running", "succeeded", "partial", "failed"]))
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    row_count = fields.Integer(allow_none=True)
    file_name = fields.String(allow_none=True)
    size_bytes = fields.Integer(allow_none=True)
    summary = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    attempt = fields.Integer(metadata={"description": "1, or 2 for the retry of a run whose "
                                                      "worker died"})
    retry_of = fields.Integer(allow_none=True,
                              metadata={"description": "the run this one retries"})
    deliveries = fields.List(fields.Nested(DeliverySchema))


class TaskSchema(TaskInputSchema):
    id = fields.Integer()
    status = fields.String(validate=validate.OneOf(["inactive", "scheduled", "running"]))
    next_run_at = fields.DateTime(allow_none=True)
    last_run = fields.Nested(RunSchema, allow_none=True)


class PreviewRunSchema(Schema):
    run_at = fields.DateTime()
    window_start = fields.DateTime()
    window_end = fields.DateTime()


class PreviewSchema(Schema):
    runs = fields.List(fields.Nested(PreviewRunSchema))


class IngestResultSchema(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    rejected = fields.Integer()
    errors = fields.List(fields.Dict(), metadata={"description": "[{line, id, reason}]"})


class IngestTooLargeSchema(IngestResultSchema):
    error = fields.Nested(ErrorBodySchema, required=True)


# Nested schemas first: the marshmallow plugin names a nested schema when it meets it, so a
# schema registered after a schema that nests it would be registered twice.
SCHEMAS = {
    "Error": ErrorSchema, "ReportType": ReportTypeSchema, "Run": RunSchema,
    "Server": ServerSchema, "ConnectionTest": ConnectionTestSchema,
    "TaskInput": TaskInputSchema, "Task": TaskSchema, "Preview": PreviewSchema,
    "IngestResult": IngestResultSchema, "IngestTooLarge": IngestTooLargeSchema,
}

from .role_schemas import ROLE_SCHEMAS  # noqa: E402 - roles, users and SSO (issue 6)

SCHEMAS.update(ROLE_SCHEMAS)
