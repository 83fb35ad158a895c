"""Tasks and what they are made of: one schema per shape loads the API's JSON (and the
portal's form, webapp/forms.py), dumps the records and describes both in the OpenAPI document.

The schedule loads through the pure schedule rules (jobs/schedule.py) into a Schedule; an
upload server's settings are checked by jobs/delivery/settings.py, which knows the stored
secrets, so here the server only passes through on load and loses its secrets on dump.
"""

from __future__ import annotations

from datetime import date

from marshmallow import Schema, ValidationError, fields, pre_load
from marshmallow.validate import Length, OneOf, Range

from jobs import schedule as sched
from jobs.delivery.settings import FINGERPRINT_RE, HOST_RE, PROXY_TYPES
from jobs.reports import registry
from jobs.reports.base import ALL_CHANNELS
from jobs.series import CATCH_UP_POLICIES
from roles.viewer import download_blockers

from ..models.tasks import TASK_STATUSES
from .fields import (
    EmailAddress,
    LocalDateTime,
    Name,
    StrictBoolean,
    StrictInteger,
    Strings,
    derived,
    says,
)
from .runs import RunSummarySchema

EXCLUDE = "exclude"
DAY_DOC = {"description": 'monthly: the day of the month, 1–28, or "last" (28–31 as the '
                          "month has)",
           "oneOf": [{"type": "integer", "minimum": 1, "maximum": 28},
                     {"type": "string", "enum": ["last"]}]}


class ScheduleSchema(Schema):
    """Documents what jobs/schedule.py's ``parse`` accepts; it does the loading. Which of
    ``every``, ``weekday`` and ``day`` a kind needs is said in their descriptions."""

    kind = fields.String(required=True, validate=OneOf(sched.KINDS))
    time = fields.String(required=True, metadata={"example": "06:30",
                                                  "pattern": sched.TIME_PATTERN})
    every = fields.Integer(metadata={"minimum": 1, "maximum": 12, "description": (
        "hourly (required): 1, 2, 3, 4, 6 or 12; monthly: 1–12, 1 when left out")})
    weekday = fields.String(validate=OneOf(sched.WEEKDAYS),
                            metadata={"description": "weekly (required)"})
    day = fields.Raw(metadata=DAY_DOC)
    timezone = fields.String(validate=OneOf(sched.all_timezone_names()), metadata={
        "description": "IANA name; the company's by default"})


class ScheduleField(fields.Nested):
    """Loads into a sched.Schedule through sched.parse; a time zone left out or empty is the
    one the root schema was given (``TaskSchema(timezone=…)``)."""

    def __init__(self, **kwargs):
        super().__init__(ScheduleSchema, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("Schedule is required.")
        try:
            return sched.parse(value, getattr(self.root, "default_timezone", None) or "UTC")
        except sched.ScheduleError as exc:
            raise ValidationError(exc.fields) from None


# An upload server's settings are loaded by jobs/delivery/settings.py; these two schemas dump
# them and document what it accepts.
HOST = {"pattern": HOST_RE.pattern, "maxLength": 255}
PORT = {"minimum": 1, "maximum": 65535}
PRINTABLE = r"^[^\x00-\x1f]*[^\s\x00-\x1f][^\x00-\x1f]*$"  # and not blank


class ProxySchema(Schema):
    type = fields.String(required=True, validate=OneOf(PROXY_TYPES))
    host = fields.String(required=True, metadata=HOST)
    port = fields.Integer(metadata=PORT)
    username = fields.String(allow_none=True, metadata={"maxLength": 128,
                                                        "pattern": PRINTABLE})
    password = fields.String(allow_none=True, load_only=True, metadata={
        "maxLength": 1024, "description": "write-only; needs a username"})


class ServerSchema(Schema):
    transport = fields.String(required=True, validate=OneOf(["sftp", "ftp", "ftps"]))
    host = fields.String(required=True, metadata=HOST)
    port = fields.Integer(metadata={**PORT, "description": "22 (SFTP) or 21 when left out"})
    username = fields.String(required=True, metadata={"maxLength": 128, "pattern": PRINTABLE})
    password = fields.String(load_only=True, metadata={"maxLength": 1024, "description": (
        "write-only; required unless the stored one is for this very endpoint (same "
        "transport, host, port, username, host key and proxy), which is then kept")})
    directory = fields.String(required=True, metadata={"maxLength": 500, "pattern": PRINTABLE})
    host_key_fingerprint = fields.String(allow_none=True, metadata={
        "pattern": FINGERPRINT_RE.pattern,
        "description": "SFTP: the key to trust, as Test connection shows it (required to save)"})
    proxy = fields.Nested(ProxySchema, allow_none=True)


class ServerField(fields.Nested):
    """Dumps without the secrets; loads as given, for jobs/delivery/settings.validate."""

    def __init__(self, **kwargs):
        super().__init__(ServerSchema, allow_none=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return value


class ConnectionTestSchema(Schema):
    ok = fields.Boolean()
    message = fields.String(metadata={"description": "what worked, or exactly what failed"})
    host_key_fingerprint = fields.String(attribute="fingerprint", allow_none=True, metadata={
        "description": "SFTP: the key the server presented, SHA256:… as OpenSSH prints it"})


class RecipientsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    error_messages = {"type": "Recipients must be an object with emails and server."}
    emails = fields.List(EmailAddress(metadata={"format": "email"}), load_default=list,
                         error_messages=says("Emails must be a list of addresses."))
    server = ServerField()

    @pre_load
    def _no_emails(self, data, **kwargs):
        return {**data, "emails": []} if isinstance(data, dict) and \
            data.get("emails") is None else data


SPREAD_MESSAGE = "Start within must be a whole number of minutes from 0 to 60."
ENDS_ON_MESSAGE = "Ends on must be a date YYYY-MM-DD (years 1970 to 9000), or null."
ENDS_ON_RANGE = Range(date(1970, 1, 1), date(9000, 12, 31), error=ENDS_ON_MESSAGE)
YEARS_1970_9000 = r"^(19[7-9]\d|[2-8]\d{3}|9000)-"  # the document's words for the range
CATCH_UP_MESSAGE = f"Catch-up must be one of {', '.join(CATCH_UP_POLICIES)}."


class OptionsSchema(Schema):
    error_messages = {"unknown": "Unknown option.", "type": "Options must be an object."}
    inactivity_days = StrictInteger(
        validate=Range(1, 30, error="Inactivity threshold must be 1 to 30 days."),
        error_messages=says("Inactivity threshold must be 1 to 30 days."))
    org_unit_ids = Strings(error_messages=says("Org unit ids must be a list of strings."))
    excel_bom = StrictBoolean(error_messages=says("Excel BOM must be true or false."))
    skip_empty = StrictBoolean(error_messages=says("Skip when empty must be true or false."),
                               metadata={"description": "no email when the report has no rows "
                                                        "(the run is \"empty\")"})
    gzip = StrictBoolean(error_messages=says("Compressed CSV must be true or false."),
                         metadata={"description": "the report as .csv.gz (downloads, uploads)"})
    spread_minutes = StrictInteger(
        validate=Range(0, 60, error=SPREAD_MESSAGE), error_messages=says(SPREAD_MESSAGE),
        metadata={"description": "scheduled runs start within this many minutes of their "
                                 "instant, at a fixed offset per task (0: at the instant)"})


REPORT_TYPE_MESSAGE = "Report type must be one of " \
    f"{', '.join(t.key for t in registry.creatable())}."


def _creatable(key: str) -> None:
    report = registry.get(key)
    if report is None:
        raise ValidationError(REPORT_TYPE_MESSAGE)
    if not report.creatable:
        raise ValidationError(f"{report.name}: this report type is no longer supported and "
                              "cannot be created.")



class NoteSchema(Schema):
    email = fields.String()
    reason = fields.String()


class TaskSchema(Schema):
    """A task. Loads a whole task (a partial edit is merged over the stored one by the
    service); the channels allowed for the report type, the server, the recipients' count
    and the org units that exist are checked by webapp/services/tasks.py."""

    READ_ONLY = ("id", "status", "next_run_at", "last_run")  # a GET's body can come back

    def __init__(self, *args, timezone: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.default_timezone = timezone

    id = fields.Integer(dump_only=True)
    name = Name(required=True, validate=Length(max=120, error="Task name must have at most "
                                                               "120 characters."),
                error_messages={**says("Task name is required."), "one_line": (
                    "Task name must be one line: no line breaks or control characters.")})
    report_type = fields.String(required=True, validate=_creatable,
                                error_messages=says(REPORT_TYPE_MESSAGE), metadata={
                                    "enum": [t.key for t in registry.creatable()]})
    channels = Strings(required=True, unique=True, allow_empty=False, choices=ALL_CHANNELS,
                       error_messages=says("Select at least one channel."))
    schedule = derived(ScheduleField(required=True, error_messages=says(
        "Schedule is required.")), lambda task: sched.of(task).as_dict())
    recipients = derived(fields.Nested(RecipientsSchema, required=True, error_messages=says(
        RecipientsSchema.error_messages["type"])), lambda task: {
        "emails": task.recipient_emails, "server": task.server})
    options = fields.Nested(OptionsSchema, load_default=dict)
    active = StrictBoolean(load_default=True,
                           error_messages=says("Activated must be true or false."))
    ends_on = fields.Date(load_default=None, allow_none=True, error_messages=says(
        ENDS_ON_MESSAGE), validate=ENDS_ON_RANGE,
        metadata={"description": "the last day (in the task's time zone) that may have a run; "
                                 "the task then deactivates itself", "pattern": YEARS_1970_9000})
    catch_up = fields.String(load_default="combine", validate=OneOf(
        CATCH_UP_POLICIES, error=CATCH_UP_MESSAGE), error_messages=says(CATCH_UP_MESSAGE),
        metadata={"description": "after downtime: combine (one run since the last window) or "
                                 "each (one run per missed instant, at most CATCH_UP_MAX)"})
    status = fields.String(dump_only=True, validate=OneOf(TASK_STATUSES))
    next_run_at = LocalDateTime(lambda task: task.timezone, dump_only=True, allow_none=True)
    last_run = derived(fields.Nested(RunSummarySchema, dump_only=True,
                                     allow_none=True), lambda task: task.last_run)
    recipients_without_download = derived(fields.List(fields.Nested(NoteSchema), dump_only=True,
                                                      metadata={"description": (
        "recipients who get the email but cannot download (single-task answers only)")}),
        lambda task: [{"email": e, "reason": r} for e, r in download_blockers(
            task.company_id, task.recipient_emails, task.report_type).items()])

    @pre_load
    def _no_options(self, data, **kwargs):
        return {**data, "options": {}} if isinstance(data, dict) and \
            data.get("options") is None else data


class ReportTypeSchema(Schema):
    key = fields.String()
    name = fields.String()
    channels = fields.List(fields.String(validate=OneOf(ALL_CHANNELS)))
    delivery = fields.List(fields.String(validate=OneOf(["email", "server"])))
    creatable = fields.Boolean()
