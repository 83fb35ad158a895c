"""Permissions, roles, users with their role assignments, and single sign-on settings.

Rules that need the database or the person acting (a role name already taken, permissions
the granter does not hold, role names in the SSO mapping that exist) are the services'.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, pre_dump
from marshmallow.validate import Length, OneOf, Regexp

from jobs.delivery import targets
from roles.permissions import ALL, BUILTIN_ROLES

from ..extensions import db
from ..models import RoleAssignment
from ..models.sso import SYNC_MODES
from ..models.users import ASSIGNMENT_SOURCES
from .fields import StrictBoolean, StrictInteger, Strings, Text, derived, says

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")
LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_PATH = r"(/[A-Za-z0-9._~-]+)*/?"
ISSUER_PATTERN = (rf"^(https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{{1,5}})?{_PATH}"
                  rf"|http://(localhost|127\.0\.0\.1)(:[0-9]{{1,5}})?{_PATH})?$")


class PermissionSchema(Schema):
    key = fields.String()
    label = fields.String()
    group = fields.String()
    type = fields.String()


def _not_builtin(name: str) -> None:
    if name.lower() in {b.lower() for b in BUILTIN_ROLES}:
        raise ValidationError(f"“{name}” is the name of a built-in role; choose another name.")


def _known_permissions(keys: list[str]) -> None:
    unknown = [p for p in keys if p not in ALL]
    if unknown:
        raise ValidationError(f"Unknown permission: {', '.join(unknown)}.")


def _holder_count(role) -> int:
    return db.session.scalar(sa.select(sa.func.count(sa.distinct(RoleAssignment.user_id)))
                             .where(RoleAssignment.role_id == role.id))


class RoleSchema(Schema):
    READ_ONLY = ("id", "builtin", "holders")

    id = fields.Integer(dump_only=True)
    name = Text(required=True, metadata={"maxLength": 100, "description": (
        "not a built-in role's name (any case): those are taken in every company")},
        validate=[Regexp(NAME_RE, error=(
        "Role name must be 1 to 100 letters, digits, spaces, dots, dashes or underscores, "
        "starting with a letter or digit.")), _not_builtin],
        error_messages=says("Role name is required."))
    description = Text(allow_none=True, load_default="", validate=Length(max=500),
                       error_messages=says("Description must be text of at most 500 "
                                              "characters."))
    builtin = fields.Boolean(dump_only=True)
    permissions = derived(Strings(required=True, unique=True, allow_empty=False,
                                  choices=tuple(sorted(ALL)), validate=_known_permissions,
                                  error_messages=says("Choose at least one permission."),
                                  metadata={"description": "keys from GET /permissions"}),
                          lambda role: sorted(role.permissions or ()))
    holders = derived(fields.Integer(dump_only=True), _holder_count)


class AssignmentSchema(Schema):
    role_id = fields.Integer()
    role = derived(fields.String(), lambda assignment: assignment.role.name)
    source = fields.String(validate=OneOf(ASSIGNMENT_SOURCES))


class AssignmentInputSchema(Schema):
    class Meta:
        unknown = "exclude"

    role_id = StrictInteger()
    role = Text(metadata={"description": "a role name, instead of role_id"})


class SsoLinkSchema(Schema):
    """The single sign-on identity a user is linked to (never the claims it last sent)."""

    issuer = fields.String(metadata={"description": "the identity provider's issuer URL"})
    subject = fields.String(metadata={"description": "the user's id at the provider"})
    last_login_at = fields.DateTime(allow_none=True, metadata={
        "description": "when the user last logged in with it"})


class UserSchema(Schema):
    """A user; ``blockers`` (email → why they cannot download) fills download_blocker."""

    def __init__(self, *args, blockers: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.blockers = blockers or {}

    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    is_group = fields.Boolean()
    active = fields.Boolean()
    has_password = derived(fields.Boolean(), lambda user: bool(user.password_hash))
    invited_at = fields.DateTime(allow_none=True, metadata={
        "description": "when the newest invitation was sent"})
    roles = derived(fields.List(fields.Nested(AssignmentSchema)), lambda user: sorted(
        user.assignments, key=lambda a: (a.role.name, a.source)))
    download_blocker = fields.Method("_blocker", allow_none=True, metadata={
        "type": "string", "nullable": True, "description": "why the user cannot download"})
    sso = fields.Nested(SsoLinkSchema, attribute="sso_identity", allow_none=True, metadata={
        "description": "the single sign-on identity the user is linked to; null when not "
                       "linked (DELETE /users/{id}/sso unlinks it)"})

    def _blocker(self, user) -> str | None:
        return self.blockers.get(user.email)


class Issuer(fields.String):
    """The IdP's issuer URL, without a trailing slash; empty while SSO is not set up."""

    def _deserialize(self, value, attr, data, **kwargs):
        issuer = super()._deserialize(value, attr, data, **kwargs).strip().rstrip("/")
        if issuer:
            parts = urlsplit(issuer)
            if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or \
                    parts.fragment:
                raise ValidationError("Issuer must be an https:// URL such as "
                                      "https://login.example.com/realms/acme.")
            if parts.scheme == "http" and parts.hostname not in LOOPBACK:
                raise ValidationError("Issuer must use https:// (http:// only on this machine).")
            refused = targets.check_public_name(parts.hostname)
            if refused:
                raise ValidationError(f"Issuer: {refused}")
        return issuer


class RoleMapping(fields.Dict):
    """IdP group → Herald role names; a single name stands for a list of one."""

    def __init__(self, **kwargs):
        super().__init__(keys=fields.String(), values=fields.List(fields.String()), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        clean, errors = {}, {}
        for group, roles in value.items():
            if not isinstance(group, str) or not group.strip() or len(group) > 200:
                errors["_schema"] = ["Group names must be 1 to 200 characters."]
                continue
            roles = [roles] if isinstance(roles, str) else roles
            if not isinstance(roles, list) or not roles or not all(
                    isinstance(r, str) for r in roles):
                errors[group] = ["Map the group to a list of role names."]
                continue
            clean[group.strip()] = list(dict.fromkeys(roles))
        if errors:
            raise ValidationError(errors, valid_data=clean)
        return clean


class AtRiskSchema(Schema):
    email = fields.String()
    reason = fields.String()


SSO_DEFAULTS = {"enabled": False, "issuer": "", "client_id": "", "client_secret": None,
                "groups_claim": "groups", "role_mapping": {}, "sync_mode": "sso_only",
                "allow_signup": False}


class SsoSettingsSchema(Schema):
    """A company's SSO settings; ``links`` (redirect_uri, login_url) and ``at_risk``
    (email → reason) are given by the view, which knows the URLs and the sync's effect."""

    READ_ONLY = ("client_secret_set", "redirect_uri", "login_url", "at_risk")

    def __init__(self, *args, links: dict[str, str] | None = None,
                 at_risk: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.links, self.at_risk_of = links or {}, at_risk or {}

    enabled = StrictBoolean(error_messages=says("Enabled must be true or false."))
    issuer = Issuer(metadata={"example": "https://login.example.com/realms/acme",
                              "pattern": ISSUER_PATTERN, "description": (
                                  "empty while SSO is off; http:// only on this machine")},
                    error_messages=says("Issuer must be a URL."))
    client_id = Text(validate=Length(max=255), error_messages=says(
        "Client id must be text of at most 255 characters."))
    client_secret = Text(load_only=True, allow_none=True, validate=Length(max=2000),
                         metadata={"description": "write-only; empty keeps the stored one"},
                         error_messages=says("Client secret must be text of at most 2000 "
                                                "characters."))
    groups_claim = Text(required=True, validate=Length(max=100), error_messages=says(
        "Groups claim must be a claim name such as groups (a dotted path reaches nested "
        "claims: realm_access.roles)."))
    role_mapping = RoleMapping(metadata={"description": "IdP group → Herald role names"},
                               error_messages=says("Role mapping must map IdP group names to "
                                                   "lists of role names."))
    sync_mode = fields.String(validate=OneOf(SYNC_MODES, error=(
        f"Sync mode must be one of {', '.join(SYNC_MODES)}.")), error_messages=says(
        f"Sync mode must be one of {', '.join(SYNC_MODES)}."))
    allow_signup = StrictBoolean(error_messages=says("Allow signup must be true or false."))
    client_secret_set = derived(fields.Boolean(dump_only=True),
                                lambda s: bool(s.get("client_secret")))
    redirect_uri = fields.Method("_redirect_uri", metadata={"type": "string"})
    login_url = fields.Method("_login_url", metadata={"type": "string"})
    at_risk = fields.Method("_at_risk", metadata={
        "type": "array", "items": {"$ref": "#/components/schemas/AtRisk"}})

    @pre_dump
    def _with_defaults(self, settings, **kwargs):
        """The stored settings, or the defaults while there are none."""
        if settings is None:
            return dict(SSO_DEFAULTS)
        return {k: getattr(settings, k) for k in SSO_DEFAULTS}

    def _redirect_uri(self, settings) -> str:
        return self.links.get("redirect_uri", "")

    def _login_url(self, settings) -> str:
        return self.links.get("login_url", "")

    def _at_risk(self, settings) -> list[dict]:
        return AtRiskSchema(many=True).dump(
            [{"email": e, "reason": r} for e, r in self.at_risk_of.items()])
