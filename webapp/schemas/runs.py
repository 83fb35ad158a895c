"""Runs and their deliveries, shown in their task's time zone."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import OneOf

from ..models.runs import DELIVERY_STATUSES, RUN_STATUSES, RUN_TRIGGERS
from .fields import LocalDateTime, derived

# "sending" is one worker's claim on a pending delivery: the API shows it as pending.
SHOWN_DELIVERY_STATUSES = tuple(s for s in DELIVERY_STATUSES if s != "sending")


def _run_zone(run) -> str:
    return run.task.timezone


class DeliverySchema(Schema):
    kind = fields.String(validate=OneOf(["email", "server"]))
    target = fields.String()
    status = derived(fields.String(validate=OneOf(SHOWN_DELIVERY_STATUSES)),
                     lambda d: "pending" if d.status == "sending" else d.status)
    attempts = fields.Integer()
    error = fields.String(allow_none=True)
    delivered_at = LocalDateTime(lambda d: _run_zone(d.run), allow_none=True)
    next_attempt_at = LocalDateTime(lambda d: _run_zone(d.run), allow_none=True, metadata={
        "description": "when a failed delivery is retried; null when sent or out of attempts"})


class RunSchema(Schema):
    id = fields.Integer()
    task_id = fields.Integer()
    trigger = fields.String(validate=OneOf(RUN_TRIGGERS))
    scheduled_for = LocalDateTime(_run_zone, allow_none=True)
    window_start = LocalDateTime(_run_zone)
    window_end = LocalDateTime(_run_zone)
    status = fields.String(validate=OneOf(RUN_STATUSES))
    started_at = LocalDateTime(_run_zone, allow_none=True)
    finished_at = LocalDateTime(_run_zone, allow_none=True)
    row_count = fields.Integer(allow_none=True)
    file_name = fields.String(allow_none=True)
    size_bytes = fields.Integer(allow_none=True)
    summary = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    attempt = fields.Integer(metadata={"description": "1, or 2 for the retry of a run whose "
                                                      "worker died"})
    retry_of = fields.Integer(attribute="retry_of_id", allow_none=True,
                              metadata={"description": "the run this one retries"})
    deliveries = fields.List(fields.Nested(DeliverySchema))


class RunSummarySchema(RunSchema):
    """A run without its deliveries: a task's last run."""

    class Meta:
        exclude = ("deliveries",)
