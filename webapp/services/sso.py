"""Single sign-on: a company's settings (validation and saving, portal and API) and the login
itself (Authlib's OpenID Connect client, binding the identity to a user, the role sync)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import requests
import sqlalchemy as sa
from authlib.integrations.flask_client import FlaskOAuth2App
from authlib.integrations.flask_client.integration import FlaskIntegration
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app

from jobs.delivery import targets
from jobs.delivery.base import DeliveryFailed
from roles import sso

from ..crypto import decrypt, encrypt
from ..extensions import db
from ..models import Company, Role, RoleAssignment, SsoIdentity, SsoSettings, User
from ..models.users import email_key
from ..schemas.people import SSO_DEFAULTS, SsoSettingsSchema
from . import audit, sso_check
from .errors import NOT_AN_OBJECT, InputError, load
from .people import create_user


class SsoError(RuntimeError):
    """The login cannot complete; the message is shown to the person logging in."""


class ProviderRefused(SsoError):
    """The provider's address (its issuer, or an endpoint or redirect it names) is loopback,
    private, link-local or multicast and ALLOW_PRIVATE_TARGETS is off: nothing was sent there.
    The message says so in the guard's words."""

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


def enabled(company_id: int) -> bool:
    settings = settings_of(company_id)
    return bool(settings and settings.enabled)


def validate(company_id: int, payload, current: SsoSettings | None,
             granted_by: frozenset[str]) -> SsoInput:
    """The settings to save. Nobody grants through SSO what they don't hold: the roles mapped
    before and after the edit must carry only permissions ``granted_by`` holds, and changing
    where logins come from (see IDENTITY) needs every permission any user here holds, since
    whoever runs the identity provider can log in as any user it is not yet bound to."""
    if not isinstance(payload, dict):
        raise InputError(NOT_AN_OBJECT)
    stored = SsoSettingsSchema(only=EDITABLE).dump(current)
    data, errors = load(SsoSettingsSchema(), {**stored, **payload})
    mapping = _mapping(company_id, data.get("role_mapping", {}), errors)
    secret = data.get("client_secret") or None
    if data.get("enabled") is True:  # with the other fields' messages, not after them
        for key in ("issuer", "client_id"):
            if not data.get(key) and key not in errors:
                errors[key] = f"{key.replace('_', ' ').capitalize()} is required to turn " \
                              "single sign-on on."
        if secret is None and (current is None or not current.client_secret) and \
                "client_secret" not in errors:
            errors["client_secret"] = "Client secret is required to turn single sign-on on."  # noqa: S105,E501
    if errors:
        raise InputError(errors)
    result = SsoInput(enabled=data["enabled"], issuer=data["issuer"],
                      client_id=data["client_id"], client_secret=secret,
                      groups_claim=data["groups_claim"], role_mapping=mapping,
                      sync_mode=data["sync_mode"], allow_signup=data["allow_signup"])
    _check_held(company_id, result, current, granted_by)
    return result


# Where logins come from and what a login may do to roles already held.
IDENTITY = ("enabled", "issuer", "client_id", "sync_mode", "allow_signup")
DEFAULTS = {"enabled": False, "issuer": "", "client_id": "", "sync_mode": "sso_only",
            "allow_signup": False}


def _check_held(company_id: int, new: SsoInput, current: SsoSettings | None,
                granted_by: frozenset[str]) -> None:
    before = current.role_mapping if current is not None else {}
    names = {r for roles in (*new.role_mapping.values(), *(before or {}).values())
             for r in roles}
    mapped = db.session.scalars(sa.select(Role).where(Role.company_id == company_id,
                                                      Role.name.in_(names))).all()
    missing = sorted({p for r in mapped for p in r.permissions or ()} - granted_by)
    if missing:
        raise InputError({"role_mapping": "Editing single sign-on needs every permission the "
                                          "mapped roles carry; you do not hold "
                                          f"{', '.join(missing)}."})
    was = {k: getattr(current, k) if current is not None else v for k, v in DEFAULTS.items()}
    changed = [k for k in IDENTITY if getattr(new, k) != was[k]]
    if new.client_secret is not None:
        changed.append("client_secret")
    missing = sorted(held_in_company(company_id) - granted_by) if changed else []
    if missing:
        raise InputError({changed[0]: "Changing where logins come from lets the identity "
                                      "provider log in as any user of the company; it needs "
                                      "every permission they hold, and you do not hold "
                                      f"{', '.join(missing)}."})


def held_in_company(company_id: int) -> frozenset[str]:
    """Every permission some active user of the company holds."""
    roles = db.session.scalars(sa.select(Role).where(Role.id.in_(
        sa.select(RoleAssignment.role_id).join(User, User.id == RoleAssignment.user_id)
        .where(User.company_id == company_id, User.active.is_(True))))).all()
    return frozenset(p for r in roles for p in r.permissions or ())


FIELDS = ("enabled", "issuer", "client_id", "groups_claim", "role_mapping", "sync_mode",
          "allow_signup")


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
    before = {k: getattr(current, k) for k in FIELDS} if current is not None else {}
    if current is None:
        db.session.add(settings)
    for key in FIELDS:
        setattr(settings, key, getattr(data, key))
    changed = {k: {"from": before.get(k), "to": getattr(data, k)} for k in FIELDS
               if before.get(k) != getattr(data, k)}
    if data.client_secret is not None:
        settings.client_secret = encrypt(data.client_secret)
        changed["client_secret"] = audit.MASK
    db.session.flush()
    audit.record("sso.update", db.session.get(Company, company_id), company_id=company_id,
                 details={"changed": changed}, target_type="sso_settings")
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
        if db.session.scalar(sa.select(SsoIdentity.id).where(SsoIdentity.user_id == user.id)):
            # Never re-bound: another identity (issuer, subject) logs in as this user.
            raise SsoError(f"{email} is linked to another sign-in identity; ask your "
                           "administrator.")
        identity = SsoIdentity(company_id=company.id, user_id=user.id, issuer=issuer,
                               subject=str(subject))
        db.session.add(identity)
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


class _GuardedSession(OAuth2Session):
    """Authlib's requests session with the private-target guard of "Test sign-in"
    (sso_check.guard): discovery, the keys, the token exchange and every redirect connect to
    checked addresses only."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sso_check.guard(self)

    def request(self, *args, **kwargs):
        try:
            return super().request(*args, **kwargs)
        except targets.PrivateTarget as exc:
            raise ProviderRefused(str(exc)) from None
        except DeliveryFailed as exc:  # the name does not resolve: unreachable, as any other
            raise requests.ConnectionError(str(exc)) from None


def why_unusable(exc: requests.RequestException) -> str:
    """Why the provider gave the login no usable answer, in a few words for the login page."""
    if isinstance(exc, requests.Timeout):
        return (f"did not answer within {current_app.config['SSO_HTTP_TIMEOUT']:g} seconds "
                "(SSO_HTTP_TIMEOUT)")
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"answered an error (HTTP {exc.response.status_code})"
    if isinstance(exc, requests.ConnectionError):
        return f"could not be reached ({sso_check.reason(exc)})"
    return "did not answer as an OpenID Connect provider does"


class _GuardedApp(FlaskOAuth2App):
    client_cls = _GuardedSession


def oidc_client(settings: SsoSettings):
    """An Authlib Flask OAuth client for the company's provider (discovery, PKCE, nonce),
    connecting to checked addresses only (ProviderRefused otherwise)."""
    name = f"herald-sso-{settings.company_id}"
    return _GuardedApp(
        FlaskIntegration(name), name,
        client_id=settings.client_id,
        client_secret=decrypt(settings.client_secret) if settings.client_secret else None,
        server_metadata_url=settings.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": sso.SCOPES, "code_challenge_method": "S256",
                       "default_timeout": current_app.config["SSO_HTTP_TIMEOUT"]},
    )
