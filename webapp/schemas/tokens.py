"""API tokens: what a token is (never its text, except once: TokenCreatedSchema) and what
making one takes."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import Schema, ValidationError, fields
from marshmallow.validate import Length, OneOf

from ..models.users import TOKEN_SCOPES
from .fields import Name, derived, says


def _in_future(value: datetime) -> None:
    if value <= datetime.now(UTC):
        raise ValidationError("Expiry must be in the future.")


class TokenSchema(Schema):
    id = fields.Integer(dump_only=True)
    # A token made before names were asked for has none: shown as "unnamed".
    name = derived(Name(required=True, validate=Length(max=100, error=(
        "Name must have at most 100 characters.")), error_messages={
        **says("Name the token (what it is for)."), "one_line": "Name must be one line of text."}),
        lambda token: token.name or "unnamed")
    scope = fields.String(load_default="read", validate=OneOf(TOKEN_SCOPES, error=(
        "Scope must be read, ingest or admin.")), metadata={
        "description": "read: GET only; ingest: reading and POST /ingest/{kind}; admin: "
                       "everything the user's permissions allow"})
    expires_at = fields.AwareDateTime(allow_none=True, load_default=None,
                                      validate=_in_future, metadata={
                                          "description": "ISO 8601 with offset; null: never"},
                                      error_messages=says(
                                          "Expiry must be a date and time with its offset."))
    created_at = fields.AwareDateTime(dump_only=True)
    last_used_at = fields.AwareDateTime(dump_only=True, allow_none=True, metadata={
        "description": "recorded at most once a minute"})


class TokenCreatedSchema(TokenSchema):
    token = fields.String(dump_only=True, metadata={
        "description": "the token's text: shown this once, never again"})


# Loading a new token: the same fields (dump-only ones are refused as unknown).
TokenInputSchema = TokenSchema
