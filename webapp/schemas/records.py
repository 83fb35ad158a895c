"""The records of an NDJSON ingestion (docs/product.md §7), one schema per kind."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..models.comms import ACCOUNT_STATUSES, CHANNELS, DIRECTIONS, ROOM_TYPES
from ..models.compliance import EXPORT_STATUSES, VIOLATION_ACTIONS, VIOLATION_TYPES


class _Record(Schema):
    id = fields.String(required=True, validate=validate.Length(1, 200))


class OrgUnitRecord(_Record):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    parent_id = fields.String(allow_none=True, load_default=None)


class UserRecord(_Record):
    email = fields.String(required=True)
    name = fields.String(load_default="", validate=validate.Length(max=200))
    org_unit_id = fields.String(allow_none=True, load_default=None)
    is_group = fields.Boolean(load_default=False)


class AccountRecord(_Record):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    identifier = fields.String(required=True, validate=validate.Length(1, 200))
    user_id = fields.String(allow_none=True, load_default=None)
    status = fields.String(load_default="connected", validate=validate.OneOf(ACCOUNT_STATUSES))
    status_since = fields.AwareDateTime(allow_none=True, load_default=None)
    last_activity_at = fields.AwareDateTime(allow_none=True, load_default=None)


class RoomRecord(_Record):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    name = fields.String(load_default="", validate=validate.Length(max=500))
    type = fields.String(required=True, validate=validate.OneOf(ROOM_TYPES))
    org_unit_id = fields.String(allow_none=True, load_default=None)
    governed = fields.Boolean(load_default=True)
    owner_user_id = fields.String(allow_none=True, load_default=None)
    created_at = fields.AwareDateTime(allow_none=True, load_default=None)
    participants = fields.Integer(load_default=0, validate=validate.Range(min=0))
    internal_participants = fields.Integer(load_default=0, validate=validate.Range(min=0))
    external_participants = fields.Integer(load_default=0, validate=validate.Range(min=0))


class MessageRecord(_Record):
    room_id = fields.String(required=True)
    account_id = fields.String(allow_none=True, load_default=None)
    direction = fields.String(required=True, validate=validate.OneOf(DIRECTIONS))
    sent_at = fields.AwareDateTime(required=True)


class ViolationRecord(_Record):
    room_id = fields.String(required=True)
    user_id = fields.String(allow_none=True, load_default=None)
    type = fields.String(required=True, validate=validate.OneOf(VIOLATION_TYPES))
    policy = fields.String(required=True, validate=validate.Length(1, 200))
    action = fields.String(required=True, validate=validate.OneOf(VIOLATION_ACTIONS))
    occurred_at = fields.AwareDateTime(required=True)


class IrregularityRecord(_Record):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    account_id = fields.String(allow_none=True, load_default=None)
    room_id = fields.String(allow_none=True, load_default=None)
    org_unit_id = fields.String(allow_none=True, load_default=None)
    event_type = fields.String(required=True, validate=validate.Length(1, 64))
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    contact = fields.String(allow_none=True, load_default=None,
                            validate=validate.Length(max=200))
    archiving_stopped = fields.Boolean(load_default=False)
    occurred_at = fields.AwareDateTime(required=True)


class ExportEmailRecord(_Record):
    room_id = fields.String(required=True)
    messages = fields.Integer(load_default=0, validate=validate.Range(min=0))
    archive_address = fields.String(required=True, validate=validate.Length(1, 254))
    email_message_id = fields.String(load_default="", validate=validate.Length(max=500))
    size_bytes = fields.Integer(load_default=0, validate=validate.Range(min=0))
    status = fields.String(required=True, validate=validate.OneOf(EXPORT_STATUSES))
    smtp_response = fields.String(load_default="", validate=validate.Length(max=10_000))
    exported_at = fields.AwareDateTime(required=True)
