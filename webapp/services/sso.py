"""Single sign-on: a company's settings (validation and saving, portal and API) and the login
itself (Authlib's OpenID Connect client, binding the identity to a user, the role sync)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from authlib.integrations.flask_client import FlaskOAuth2App
from authlib.integrations.flask_client.integration import FlaskIntegration
from flask import current_app

from roles import sso

from ..crypto import decrypt, encrypt
from ..extensions import db
from ..models import Role, SsoIdentity, SsoSettings, User
from ..models.users import email_key
from ..schemas.people import SSO_DEFAULTS, SsoSettingsSchema
from .errors import NOT_AN_OBJECT, InputError, load
from .people import create_user


class SsoError(RuntimeError):
    """The login cannot complete; the message is shown to the person logging in."""

EDITABLE = tuple(k for k in SSO_DEFAULTS if k != "client_secret")


@dataclass
class SsoInput:
    enabled: bool
    issuer: str
    client_id: str
    client_secret: str | None  # None: keep the stored one
    groups_claim: str
    role_mapping: dict[str, list[str]]
    sync_mode: str
    allow_signup: bool


def settings_of(company_id: int) -> SsoSettings | None:
    return db.session.scalar(sa.select(SsoSettings).where(SsoSettings.company_id == company_id))


def validate(company_id: int, payload, current: SsoSettings | None) -> SsoInput:
    """The settings given merged over the stored ones (an absent or empty client secret keeps
    the stored one), through SsoSettingsSchema; then the role names and what turning SSO on
    needs."""
    if not isinstance(payload, dict):
        raise InputError(NOT_AN_OBJECT)
    stored = SsoSettingsSchema(only=EDITABLE).dump(current)
    data, errors = load(SsoSettingsSchema(), {**stored, **payload})
    mapping = _mapping(company_id, data.get("role_mapping", {}), errors)
    secret = data.get("client_secret") or None
    if data.get("enabled") is True and not errors:
        for key in ("issuer", "client_id"):
            if not data[key]:
                errors[key] = f"{key.replace('_', ' ').capitalize()} is required to turn " \
                              "single sign-on on."
        if secret is None and (current is None or not current.client_secret):
            errors["client_secret"] = "Client secret is required to turn single sign-on on."  # noqa: S105,E501
    if errors:
        raise InputError(errors)
    return SsoInput(enabled=data["enabled"], issuer=data["issuer"],
                    client_id=data["client_id"], client_secret=secret,
                    groups_claim=data["groups_claim"], role_mapping=mapping,
                    sync_mode=data["sync_mode"], allow_signup=data["allow_signup"])


def _mapping(company_id: int, mapping: dict, errors: dict) -> dict[str, list[str]]:
    """The mapping, if every role it names exists in the company."""
    names = set(db.session.scalars(sa.select(Role.name).where(Role.company_id == company_id)))
    for group, roles in mapping.items():
        unknown = [r for r in roles if r not in names]
        if unknown:
            errors[f"role_mapping.{group}"] = f"No role named {', '.join(unknown)} in this " \
                                              "company; create it first."
    return mapping


def save(company_id: int, data: SsoInput, current: SsoSettings | None) -> SsoSettings:
    settings = current or SsoSettings(company_id=company_id)
    if current is None:
        db.session.add(settings)
    for key in ("enabled", "issuer", "client_id", "groups_claim", "role_mapping", "sync_mode",
                "allow_signup"):
        setattr(settings, key, getattr(data, key))
    if data.client_secret is not None:
        settings.client_secret = encrypt(data.client_secret)
    db.session.flush()
    return settings


def parse_mapping_text(text: str) -> dict[str, list[str]] | str:
    """The form's mapping, one ``group = role, role`` a line; a message when a line is bad."""
    mapping: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        group, sep, roles = line.rpartition("=")
        if not sep or not group.strip() or not roles.strip():
            return f"Line {n}: write “IdP group = role name, other role name”."
        mapping.setdefault(group.strip(), []).extend(
            r.strip() for r in roles.split(",") if r.strip())
    return mapping


def mapping_text(mapping: dict[str, list[str]]) -> str:
    return "\n".join(f"{g} = {', '.join(r)}" for g, r in (mapping or {}).items())


# -- logging in -------------------------------------------------------------------------------


def complete_login(settings: SsoSettings, claims: dict, now: datetime) -> User:
    """The user for validated ID token claims: matched by verified email, created on first
    login if the company allows it; then the role sync. Raise SsoError with a message."""
    email = claims.get("email")
    subject = claims.get("sub")
    if not isinstance(email, str) or not email.strip() or not subject:
        raise SsoError("Your identity provider did not send an email address; ask your "
                       "administrator to release the email claim to Herald.")
    if claims.get("email_verified") is not True:
        raise SsoError(f"Your identity provider has not verified the address {email}; Herald "
                       "only accepts verified addresses.")
    company = settings.company
    user = db.session.scalar(sa.select(User).where(User.company_id == company.id,
                                                   User.email_key == email_key(email)))
    issuer = settings.issuer
    identity = db.session.scalar(sa.select(SsoIdentity).where(
        SsoIdentity.company_id == company.id, SsoIdentity.issuer == issuer,
        SsoIdentity.subject == str(subject)))
    if identity is not None and (user is None or identity.user_id != user.id):
        raise SsoError("This identity is linked to another Herald user; ask your administrator.")
    if user is None:
        if not settings.allow_signup:
            raise SsoError(f"{email} is not a user of {company.name}; ask your administrator to "
                           "add you.")
        try:
            user = create_user(company, email, name=str(claims.get("name") or ""))
        except InputError as exc:
            raise SsoError("; ".join(exc.fields.values())) from None
    if user.is_group:
        raise SsoError(f"{email} is a group email of {company.name}: it cannot log in.")
    if not user.active:
        raise SsoError(f"The account {email} is deactivated; ask your administrator.")
    if identity is None:
        identity = db.session.scalar(sa.select(SsoIdentity).where(SsoIdentity.user_id == user.id))
        if identity is None:
            identity = SsoIdentity(company_id=company.id, user_id=user.id)
            db.session.add(identity)
        identity.issuer, identity.subject = issuer, str(subject)
    identity.last_claims = _storable(claims)
    identity.last_login_at = now
    roles = sso.resolve_roles(company.id, sso.mapped_role_names(claims, settings))
    sso.sync_roles(user, roles, settings.sync_mode)
    return user


def _storable(claims: dict) -> dict:
    """The claims kept for predicting the mapping (the token's own fields dropped)."""
    drop = {"nonce", "at_hash", "c_hash", "auth_time", "iat", "exp", "nbf", "jti", "sid"}
    return {k: v for k, v in claims.items() if k not in drop}


# -- Authlib's Flask client ------------------------------------------------------------------


def oidc_client(settings: SsoSettings):
    """An Authlib Flask OAuth client for the company's provider (discovery, PKCE, nonce)."""
    name = f"herald-sso-{settings.company_id}"
    return FlaskOAuth2App(
        FlaskIntegration(name), name,
        client_id=settings.client_id,
        client_secret=decrypt(settings.client_secret) if settings.client_secret else None,
        server_metadata_url=settings.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": sso.SCOPES, "code_challenge_method": "S256",
                       "default_timeout": current_app.config["SSO_HTTP_TIMEOUT"]},
    )
