"""Schemas of the roles, users and SSO endpoints, for the OpenAPI document."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from webapp.models.sso import SYNC_MODES


class PermissionSchema(Schema):
    key = fields.String()
    label = fields.String()
    group = fields.String()
    type = fields.String()


class RoleInputSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    description = fields.String(validate=validate.Length(0, 500))
    permissions = fields.List(fields.String(), required=True,
                              metadata={"description": "keys from GET /permissions"})


class RoleSchema(RoleInputSchema):
    id = fields.Integer()
    builtin = fields.Boolean()
    holders = fields.Integer()


class AssignmentSchema(Schema):
    role_id = fields.Integer()
    role = fields.String()
    source = fields.String(validate=validate.OneOf(["manual", "recipient", "sso"]))


class AssignmentInputSchema(Schema):
    role_id = fields.Integer()
    role = fields.String(metadata={"description": "a role name, instead of role_id"})


class UserSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    is_group = fields.Boolean()
    active = fields.Boolean()
    roles = fields.List(fields.Nested(AssignmentSchema))
    download_blocker = fields.String(allow_none=True,
                                     metadata={"description": "why the user cannot download"})


class SsoSettingsInputSchema(Schema):
    enabled = fields.Boolean()
    issuer = fields.String(metadata={"example": "https://login.example.com/realms/acme"})
    client_id = fields.String()
    client_secret = fields.String(load_only=True, metadata={"description": "write-only"})
    groups_claim = fields.String(load_default="groups")
    role_mapping = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                               metadata={"description": "IdP group → Herald role names"})
    sync_mode = fields.String(validate=validate.OneOf(SYNC_MODES))
    allow_signup = fields.Boolean()


class AtRiskSchema(Schema):
    email = fields.String()
    reason = fields.String()


class SsoSettingsSchema(SsoSettingsInputSchema):
    client_secret_set = fields.Boolean()
    redirect_uri = fields.String()
    login_url = fields.String()
    at_risk = fields.List(fields.Nested(AtRiskSchema))


ROLE_SCHEMAS = {
    "Permission": PermissionSchema, "Role": RoleSchema, "RoleInput": RoleInputSchema,
    "User": UserSchema, "AssignmentInput": AssignmentInputSchema,
    "SsoSettingsInput": SsoSettingsInputSchema, "SsoSettings": SsoSettingsSchema,
}
