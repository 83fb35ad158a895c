"""The error body every API error has, and the answer of an ingestion."""

from __future__ import annotations

from marshmallow import Schema, fields


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", attribute="fields", keys=fields.String(),
                          values=fields.String(), metadata={
                              "description": "a message per invalid field (dotted names)"})
    run_id = fields.Integer(metadata={
        "description": "run now refused: the task's run that is already queued or running"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class IngestErrorSchema(Schema):
    line = fields.Integer()
    id = fields.Raw(allow_none=True, metadata={"description": "the record's id, if it had one"})
    reason = fields.String()


class IngestResultSchema(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    rejected = fields.Integer()
    errors = fields.List(fields.Nested(IngestErrorSchema))


class IngestTooLargeSchema(IngestResultSchema):
    """413: the body is over MAX_INGEST_BYTES; the counts are those of the batches committed
    before the limit was reached."""

    error = fields.Nested(ErrorBodySchema, required=True)
