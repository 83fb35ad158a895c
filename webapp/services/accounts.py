"""Invitations, password links and passwords; deactivating and reactivating users.

A password link is signed (SECRET_KEY), names its user and purpose, expires after
INVITE_TTL_HOURS, and carries a fingerprint of what it may change (the password hash and the
newest invitation's time): once a password is set with it, or a newer invitation is sent, it
no longer works — one link, one use.

The mail with a link is rendered here and sent by a worker (jobs/account_mail.py), never
within the request: "forgot password" answers in the same time whether the address has an
account or not. It is queued when the request's transaction commits, never when it rolls
back (mail_after_commit.py).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import sqlalchemy as sa
from flask import current_app, has_request_context, render_template
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from jobs.delivery import mailer
from jobs.delivery.email import new_message_id
from roles.viewer import sync_recipient_roles

from ..extensions import db
from ..models import Company, Role, SsoIdentity, User
from ..models.users import email_key
from . import audit, sessions
from . import roles as role_service
from .errors import Conflict, InputError, Missing
from .mail_after_commit import send_after_commit
from .people import create_user
from .roles import LOCKOUT, locks_out

SALT = "herald.password-link"
PURPOSES = ("invite", "reset")
MIN_PASSWORD = 8


class LinkInvalid(RuntimeError):
    """The link is unknown, expired, used or replaced; the message says which, for people."""


def _ttl() -> timedelta:
    return timedelta(hours=current_app.config.get("INVITE_TTL_HOURS", 72))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _fingerprint(user: User) -> str:
    invited = user.invited_at.isoformat() if user.invited_at else ""
    return hashlib.sha256(f"{user.password_hash or ''}|{invited}".encode()).hexdigest()[:20]


def make_link(user: User, purpose: str) -> str:
    token = _serializer().dumps({"u": user.id, "p": purpose, "f": _fingerprint(user)})
    return f"{current_app.config['BASE_URL']}/password/{token}"


def user_of_link(token: str, lock: bool = False) -> tuple[User, str]:
    """The user and purpose of a valid link; LinkInvalid otherwise. ``lock`` (before using
    it) holds the user's row, so that two submits of one link cannot both pass."""
    try:
        data = _serializer().loads(token, max_age=int(_ttl().total_seconds()))
    except SignatureExpired:
        raise LinkInvalid("This link has expired. Ask for a new one.") from None
    except BadSignature:
        raise LinkInvalid("This link is not valid. Ask for a new one.") from None
    ident = data.get("u") if isinstance(data, dict) else None
    user = db.session.get(User, ident, with_for_update=lock) if isinstance(ident, int) else None
    if user is None or not user.is_active:
        raise LinkInvalid("This link is not valid. Ask for a new one.")
    if data.get("f") != _fingerprint(user):
        raise LinkInvalid("This link has been used already, or a newer one was sent. Ask for "
                          "a new one.")
    return user, data.get("p", "reset")


def check_password(password: str, confirm: str | None = None) -> None:
    if not password or len(password) < MIN_PASSWORD:
        raise InputError({"password": f"Password must have at least {MIN_PASSWORD} "
                                      "characters."})
    if len(password) > 500:
        raise InputError({"password": "Password must have at most 500 characters."})
    if confirm is not None and confirm != password:
        raise InputError({"confirm": "The two passwords are not the same."})


def set_password(user: User, password: str, *, via: str) -> None:
    """Set a user's password (a link, the CLI); audited as password.reset. Every other login
    of the user ends: whoever knew the old password does not stay logged in."""
    check_password(password)
    user.set_password(password)
    ended = sessions.end_all(user, except_current=True)
    audit.record("password.reset", user, actor=user if via != "cli" else None,
                 details={"via": via, "sessions_ended": ended})


def login_state(user: User) -> str:
    """How the user logs in: password, sso, invited (a link was sent), none, or group."""
    if user.is_group:
        return "group"
    if user.password_hash:
        return "password"
    if user.sso_identity is not None:
        return "sso"
    return "invited" if user.invited_at else "none"


def sso_identity(user: User) -> SsoIdentity | None:
    """The identity provider's (issuer, subject) the user is bound to, if any."""
    return user.sso_identity


class NotHeld(InputError):
    """The user holds permissions the person acting does not (the API answers 403)."""


def unlink_sso(user: User, granted_by: frozenset[str]) -> SsoIdentity:
    """Remove the user's single sign-on binding (a new identity provider, an account
    recreated there with a new subject): their next SSO login binds the identity it comes
    with, matched by verified email as on a first login. Roles given by SSO stay until that
    login re-syncs them, as every SSO login does (roles/sso.py): the person keeps their access
    while the provider changes. Since any identity with the user's email may then log in as
    them, unlinking needs every permission the user holds, as changing the SSO settings does.
    Every login of the user ends: whoever holds the old identity does not stay logged in."""
    identity = sso_identity(user)
    if identity is None:
        raise Missing({"sso": f"{user.email} is not linked to a single sign-on identity."})
    missing = sorted(user.permissions() - granted_by)
    if missing:
        raise NotHeld({"sso": f"{user.email} holds permissions you do not hold "
                              f"({', '.join(missing)}): unlinking lets the next single sign-on "
                              "login as them bind a new identity, so only someone holding "
                              "all of them may."})
    db.session.delete(identity)
    db.session.flush()
    ended = sessions.end_all(user)
    audit.record("user.sso_unlink", user, details={"issuer": identity.issuer,
                                                   "subject": identity.subject,
                                                   "sessions_ended": ended})
    return identity


def cannot_log_in(company_id: int, emails: list[str]) -> dict[str, User]:
    """Recipients who are active users without a password or SSO identity (invited or not)."""
    keys = {email_key(e): e for e in emails}
    users = db.session.scalars(sa.select(User).where(
        User.company_id == company_id, User.email_key.in_(keys), User.is_group.is_(False),
        User.active.is_(True), User.password_hash.is_(None),
        ~sa.exists().where(SsoIdentity.user_id == User.id)))
    return {keys[u.email_key]: u for u in users}


GROUP_NOT_INVITED = "A group email cannot log in, so it cannot be invited."


def invite(user: User) -> None:
    """Send the user a link to set a password (a newer invitation voids older links)."""
    if user.is_group:
        raise Conflict({"email": GROUP_NOT_INVITED})
    if not user.active:
        raise Conflict({"email": f"{user.email} is deactivated: reactivate them first."})
    user.invited_at = datetime.now(UTC)
    db.session.flush()
    _send(user, "invite")
    audit.record("user.invite", user)


def request_reset(address: str, company_slug: str | None = None) -> int:
    """Send a reset link to every active user with this address (in the company named, when
    it is); how many were sent is for tests and logs, never for the person asking."""
    query = sa.select(User).join(Company).where(User.email_key == email_key(address),
                                                User.active.is_(True), User.is_group.is_(False))
    if company_slug:
        query = query.where(Company.slug == company_slug.strip().lower())
    users = db.session.scalars(query).all()
    for user in users:
        _send(user, "reset")
        audit.record("password.reset_request", user, actor=address.strip()[:254])
    return len(users)


def _send(user: User, purpose: str) -> None:
    hours = int(_ttl().total_seconds() // 3600)
    context = {"user": user, "company": user.company, "link": make_link(user, purpose),
               "hours": hours, "purpose": purpose}
    message = EmailMessage()
    message["Subject"] = (f"[{user.company.name}] You are invited to Herald" if purpose == "invite"
                          else f"[{user.company.name}] Set a new Herald password")
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = user.email
    message["Message-ID"] = new_message_id()
    message.set_content(render_template("emails/password.txt", **context))
    if has_request_context() or current_app.config.get("REDIS_URL"):
        # Sent by a worker, never in-request; queued once the transaction commits (the link
        # fingerprints what it writes), never if it rolls back.
        send_after_commit(message, user.company_id)
    else:  # a CLI command run outside `serve`, with no Redis: nobody to time it, send it now
        mailer.send(message, user.company_id)


def set_active(user: User, active: bool, acting: User | None) -> None:
    """Deactivate (no login, no token, no viewer role) or reactivate a user. Nobody
    deactivates themselves, nor the last user who can manage users and roles. Deactivating
    ends every login of the user, so that reactivating them revives no old cookie."""
    if user.active == active:
        return
    if not active and acting is not None and acting.id == user.id:
        raise InputError({"active": "You cannot deactivate yourself: ask another "
                                    "administrator."})
    if not active and locks_out(user.company_id, drop_user=user.id):
        raise InputError({"active": LOCKOUT})
    user.active = active
    db.session.flush()
    sync_recipient_roles(user.company_id)
    if active:
        audit.record("user.reactivate", user)
    else:
        audit.record("user.deactivate", user, details={"sessions_ended": sessions.end_all(user)})


def create(company: Company, data: dict, granted_by: frozenset[str]) -> User:
    """A user (or group email) made in the portal or the API: ``data`` holds email, name,
    is_group, roles (names) and invite. Roles are given as manual assignments, only those
    whose permissions the creator holds; the invitation is sent when asked."""
    if data.get("is_group") and data.get("invite"):  # the request's own fault: 422
        raise InputError({"email": GROUP_NOT_INVITED})
    user = create_user(company, data["email"], name=data.get("name") or "",
                       is_group=bool(data.get("is_group")))
    audit.record("user.create", user, details={"is_group": user.is_group})
    for name in data.get("roles") or ():
        role = db.session.scalar(sa.select(Role).where(Role.company_id == company.id,
                                                       Role.name == name))
        if role is None:
            raise InputError({"roles": f"No role named “{name}” in this company."})
        role_service.assign(user, role, granted_by)
    if data.get("invite"):
        invite(user)
    return user


def login_states(users: list[User]) -> dict[int, str]:
    """login_state of many users (roles.users_of loads their identities in one query)."""
    return {u.id: login_state(u) for u in users}
