"""API tokens: a name, a scope (read, ingest, admin) and an optional expiry; shown once when
made, stored as a SHA-256; listed and revoked by their owner, and revoked by whoever manages
the company's users (a leaked or forgotten token) (docs/product.md §9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import ApiToken, User
from ..models.users import TOKEN_SCOPES
from ..schemas.tokens import TokenInputSchema
from . import audit
from .errors import InputError, load

LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often
READ_METHODS = ("GET", "HEAD", "OPTIONS")


def _now() -> datetime:
    return datetime.now(UTC)


def of_user(user: User) -> list[ApiToken]:
    return list(db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id)
                                   .order_by(ApiToken.id.desc())))


def revocable(user: User, token_id: int, manages_users: bool = False) -> ApiToken | None:
    """The token with this id that ``user`` may revoke: their own, or with ``manages_users``
    any token of their company. None otherwise: another company's token is as unknown as a
    missing one."""
    token = db.session.get(ApiToken, token_id) if 0 < token_id < 2**31 else None
    if token is None or token.user_id == user.id:
        return token
    return token if manages_users and token.user.company_id == user.company_id else None


def create(user: User, raw, via: str = "api") -> tuple[ApiToken, str]:
    """A new token for ``user`` (InputError for bad input) and its plain text, which is never
    available again. The caller commits."""
    data, errors = load(TokenInputSchema(), raw)
    if errors:
        raise InputError(errors)
    return issue(user, data["name"], data["scope"], data.get("expires_at"), via)


def issue(user: User, name: str, scope: str = "admin", expires_at: datetime | None = None,
          via: str = "api") -> tuple[ApiToken, str]:
    assert scope in TOKEN_SCOPES
    token, plain = ApiToken.issue(user, name=name, scope=scope, expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    audit.record("token.create", user, details={"token_id": token.id, "name": name,
                                                "scope": scope, "via": via,
                                                "expires_at": expires_at.isoformat()
                                                if expires_at else None})
    return token, plain


def revoke(token: ApiToken) -> None:
    """Delete the token (the caller commits); the event names its owner as the target and
    whoever revoked it as the actor."""
    audit.record("token.revoke", token.user, details={"token_id": token.id,
                                                      "name": token.name})
    db.session.delete(token)


def authenticate(plain: str) -> ApiToken | None:
    """The live token with this text (not expired, its user active), or None. Its last use
    is recorded at most once a minute, so reads by token stay reads. Its user comes with it,
    and the user's roles, which every request checks (one query for the three)."""
    token = db.session.scalars(_by_hash(), {"token_hash": ApiToken.hash(plain.strip())}
                               ).unique().first()
    now = _now()
    if token is None or not token.user.is_active or \
            (token.expires_at is not None and token.expires_at <= now):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        db.session.execute(sa.update(ApiToken).where(ApiToken.id == token.id)
                           .values(last_used_at=now))
        db.session.commit()
    return token


@cache
def _by_hash() -> sa.Select:
    """The token of a hash, with its user and the user's roles: built once (every API
    request runs it)."""
    return sa.select(ApiToken).options(joinedload(ApiToken.user).joinedload(
        User.assignments)).where(ApiToken.token_hash == sa.bindparam("token_hash"))


def refusal(token: ApiToken, method: str, endpoint: str | None) -> str | None:
    """Why this token's scope does not allow the request, or None."""
    if token.scope == "admin" or method in READ_METHODS:
        return None
    if token.scope == "ingest" and endpoint == "api.ingest_records":
        return None
    allowed = "reading and ingesting" if token.scope == "ingest" else "reading"
    return f"This token's scope ({token.scope}) allows {allowed} only."
