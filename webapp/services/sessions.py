"""Portal logins held server-side. The session cookie carries a random key; the database keeps
its hash, when it started and when it was last seen. A login lives while it is used at least
every SESSION_IDLE_MINUTES and for at most SESSION_MAX_HOURS; logging out ends it for every
copy of the cookie. ``last_seen_at`` is written at most once a minute. Setting a password,
unlinking single sign-on and deactivating a user end the user's other logins (end_all)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from functools import cache

import sqlalchemy as sa
from flask import current_app, has_request_context, session
from flask_login import login_user, logout_user
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import LoginSession, User

KEY = "herald_login"
SEEN_EVERY = timedelta(minutes=1)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def start(user: User, keep: tuple[str, ...] = ()) -> None:
    """Log ``user`` in: a new server-side session (the caller has committed its audit).
    Only the session keys named in ``keep`` carry over (a form sent after the login expired,
    to be filled in again)."""
    key = secrets.token_urlsafe(32)
    db.session.add(LoginSession(user_id=user.id, key_hash=_hash(key)))
    db.session.commit()
    kept = {name: session[name] for name in keep if name in session}
    session.clear()  # nothing else of an earlier login carries over (session fixation)
    login_user(user)
    session.update(kept)
    session[KEY] = key


def current() -> LoginSession | None:
    """The live server-side session of this request's cookie, or None (ended, timed out).
    Its user comes in the same query, with the company and roles every page shows and checks
    (one query a request instead of three)."""
    key = session.get(KEY)
    if not isinstance(key, str):
        return None
    login = db.session.scalars(_by_key(), {"key_hash": _hash(key)}).unique().first()
    now = _now()
    config = current_app.config
    if login is None or login.ended_at is not None \
            or now - login.last_seen_at > timedelta(minutes=config["SESSION_IDLE_MINUTES"]) \
            or now - login.created_at > timedelta(hours=config["SESSION_MAX_HOURS"]):
        return None
    if now - login.last_seen_at >= SEEN_EVERY:
        db.session.execute(sa.update(LoginSession).where(LoginSession.id == login.id)
                           .values(last_seen_at=now))
        db.session.commit()
    return login


@cache
def _by_key() -> sa.Select:
    """The login of a key's hash, with its user, company and roles: built once (building a
    statement costs about as much as running it, and every request runs this one)."""
    return sa.select(LoginSession).options(
        joinedload(LoginSession.user).joinedload(User.company),
        joinedload(LoginSession.user).joinedload(User.assignments)).where(
        LoginSession.key_hash == sa.bindparam("key_hash"))


def end() -> None:
    """Log out: the server-side session ends, whoever holds a copy of the cookie."""
    key = session.get(KEY)
    if isinstance(key, str):
        db.session.execute(sa.update(LoginSession).where(LoginSession.key_hash == _hash(key))
                           .values(ended_at=_now()))
        db.session.commit()
    logout_user()
    session.clear()



def end_all(user: User, *, except_current: bool = False) -> int:
    """End every live login of ``user`` in one UPDATE, in the caller's transaction (it
    commits with its audit event); ``except_current`` spares this request's own login. How
    many ended: logins already ended or timed out are not counted (nor revived by anything)."""
    now = _now()
    config = current_app.config
    query = sa.update(LoginSession).where(
        LoginSession.user_id == user.id, LoginSession.ended_at.is_(None),
        LoginSession.last_seen_at >= now - timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
        LoginSession.created_at >= now - timedelta(hours=config["SESSION_MAX_HOURS"]))
    key = session.get(KEY) if except_current and has_request_context() else None
    if isinstance(key, str):
        query = query.where(LoginSession.key_hash != _hash(key))
    result = db.session.execute(query.values(ended_at=now),
                                execution_options={"synchronize_session": False})
    return result.rowcount
