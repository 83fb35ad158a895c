"""GET /schedules/preview: the query (a schedule, flat, with count and after) and the runs."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import Schema, ValidationError, fields, post_load, validates_schema
from marshmallow.validate import Range

from jobs import schedule as sched
from jobs.series import end_instant

from .fields import says
from .tasks import DAY_DOC, ENDS_ON_MESSAGE, ENDS_ON_RANGE, YEARS_1970_9000

AFTER_MESSAGE = "After must be an ISO 8601 time with an offset, in the years 1970 to 9000."


class AwareDateTime(fields.DateTime):
    """An ISO 8601 time with an offset; an unencoded "+hh:mm" arrives as " hh:mm"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if " " in value and "+" not in value:
            value = "+".join(value.rsplit(" ", 1))
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None
        if parsed.tzinfo is None or not 1970 <= parsed.year <= 9000:  # runs stay in range
            raise self.make_error("invalid")
        return parsed


class PreviewQuerySchema(Schema):
    """The query; a time zone left out or empty is the one the schema was given."""

    class Meta:
        unknown = "exclude"

    def __init__(self, *args, timezone: str = "UTC", **kwargs):
        super().__init__(*args, **kwargs)
        self.default_timezone = timezone

    # Judged by sched.parse alone (jobs/schedule.py), with its messages; typed here for the
    # document only. A query cannot say "every for hourly, weekday for weekly, day for
    # monthly", so the document asks for all three, with values every kind accepts.
    kind = fields.Raw(required=True, metadata={"type": "string", "enum": list(sched.KINDS)})
    time = fields.Raw(required=True, metadata={"type": "string", "example": "06:30",
                                               "pattern": sched.TIME_PATTERN})
    every = fields.Raw(metadata={"type": "integer", "x-required": True, "enum": [
        n for n in sched.HOURLY_EVERY if n in sched.MONTHLY_EVERY], "description": (
        "hourly: every so many hours (1, 2, 3, 4, 6, 12); monthly: every so many months "
        "(1–12); ignored by daily and weekly")})
    weekday = fields.Raw(metadata={"type": "string", "enum": list(sched.WEEKDAYS),
                                   "x-required": True, "description": "used by weekly"})
    day = fields.Raw(metadata={**DAY_DOC, "x-required": True})
    timezone = fields.Raw(metadata={"type": "string", "enum": ["", *sched.all_timezone_names()],
                                    "description": "IANA name; empty: the company's"})
    count = fields.Integer(load_default=5, validate=Range(1, 100, error=(
        "Count must be a whole number from 1 to 100.")), error_messages=says(
        "Count must be a whole number from 1 to 100."))
    after = AwareDateTime(error_messages=says(AFTER_MESSAGE), metadata={
        "pattern": YEARS_1970_9000})
    ends_on = fields.Date(error_messages=says(ENDS_ON_MESSAGE), validate=ENDS_ON_RANGE,
                          metadata={"description": "the task's end date: no run after it",
                                    "pattern": YEARS_1970_9000})

    @validates_schema(skip_on_field_errors=False)
    def _schedule_is_valid(self, data, **kwargs):
        try:
            sched.parse(data, self.default_timezone)
        except sched.ScheduleError as exc:
            raise ValidationError(exc.fields) from None

    @post_load
    def _as_preview(self, data, **kwargs):
        schedule = sched.parse(data, self.default_timezone)
        return {"schedule": schedule, "count": data["count"],
                "after": data.get("after") or datetime.now(UTC),
                "ends_at": end_instant(data.get("ends_on"), schedule.timezone)}


class PreviewRunSchema(Schema):
    run_at = fields.DateTime()
    window_start = fields.DateTime()
    window_end = fields.DateTime()


class PreviewSchema(Schema):
    runs = fields.List(fields.Nested(PreviewRunSchema))
