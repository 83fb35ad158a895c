"""The error every service raises for bad input, shown field by field by portal and API, and
the loading of input through a schema (webapp/schemas) that gathers every field's message."""

from __future__ import annotations

from marshmallow import Schema, ValidationError

from ..schemas.fields import flatten

NOT_AN_OBJECT = {"body": "The request body must be a JSON object."}


class InputError(ValueError):
    """Bad input; ``fields`` maps each field to its message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class Conflict(InputError):
    """Well-formed input that the records' state refuses (a role name or an email already
    taken, a group email asked to hold a role or to log in): the API answers 409, not 422,
    since the same request is valid against other records."""


class Missing(InputError):
    """The thing the request takes away is not there (a manual role assignment): 404."""


def load(schema: Schema, payload) -> tuple[dict, dict[str, str]]:
    """The fields that loaded and a message per field that did not, so that the service can
    add its own rules' messages before it raises InputError. ``schema.READ_ONLY`` fields (a
    record's id, status…) are ignored, so an answer can be sent back as it is."""
    if not isinstance(payload, dict):
        raise InputError(NOT_AN_OBJECT)
    payload = {k: v for k, v in payload.items() if k not in getattr(schema, "READ_ONLY", ())}
    try:
        return schema.load(payload), {}
    except ValidationError as exc:
        return exc.valid_data or {}, flatten(exc.messages)
