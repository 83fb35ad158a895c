"""Creating a user (and inviting them) and changing one through the API."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import Length

from .fields import EmailAddress, StrictBoolean, Strings, Text, says


class UserInputSchema(Schema):
    """POST /users: a person (or a group email), optionally with roles and an invitation."""

    email = EmailAddress(required=True, error_messages=says("Email is required."))
    name = Text(load_default="", validate=Length(max=200), error_messages=says(
        "Name must be text of at most 200 characters."))
    is_group = StrictBoolean(load_default=False, error_messages=says(
        "is_group must be true or false."))
    roles = Strings(load_default=list, unique=True, error_messages=says(
        "Roles must be a list of role names."), metadata={"description": "role names; "
                                                          "manual assignments"})
    invite = StrictBoolean(load_default=False, error_messages=says(
        "Invite must be true or false."), metadata={"description": "email a one-time link "
                                                    "to set a password"})


class UserPatchSchema(Schema):
    """PATCH /users/{id}: deactivate or reactivate, rename."""

    active = StrictBoolean(error_messages=says("Active must be true or false."), metadata={
        "description": "false: no login, no API token, no automatic viewer role"})
    name = Text(validate=Length(max=200), error_messages=says(
        "Name must be text of at most 200 characters."))


class InvitationSchema(Schema):
    """The answer to POST /users/{id}/invite."""

    email = fields.String()
    invited_at = fields.DateTime()
    expires_in_hours = fields.Integer()
