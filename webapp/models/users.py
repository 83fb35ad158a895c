"""Users, API tokens, roles and role assignments."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .types import UTCDateTime, utcnow

ASSIGNMENT_SOURCES = ("manual", "recipient", "sso")


class User(UserMixin, db.Model):
    """A person or a group address of a company; the same record the comms data refers to."""

    __tablename__ = "users"
    __table_args__ = (
        sa.UniqueConstraint("company_id", "email_key"),
        sa.UniqueConstraint("company_id", "external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    email_key: Mapped[str] = mapped_column(sa.String(254))  # lower-cased, for comparisons
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    is_group: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    external_id: Mapped[str | None] = mapped_column(sa.String(200))
    org_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_units.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # Opted in to the alerts of every task (failed runs, silent tasks); counts while the user
    # may edit scheduled reports.
    failure_alerts: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # When the newest invitation to set a password was sent; a new one voids older links.
    invited_at = mapped_column(UTCDateTime)

    company = relationship("Company")
    assignments = relationship("RoleAssignment", back_populates="user",
                               cascade="all, delete-orphan")
    # The single sign-on identity the user is linked to, if any (read here; services/accounts
    # binds and unlinks it).
    sso_identity = relationship("SsoIdentity", uselist=False, viewonly=True)

    @property
    def is_active(self) -> bool:  # flask-login: group addresses never log in
        return self.active and not self.is_group

    def set_email(self, email: str) -> None:
        self.email = email.strip()
        self.email_key = email_key(email)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def permissions(self) -> frozenset[str]:
        return frozenset(p for a in self.assignments for p in a.role.permissions or ())


def email_key(email: str) -> str:
    return email.strip().lower()


TOKEN_SCOPES = ("read", "ingest", "admin")  # read: GET only; ingest: + POST /ingest; admin: all


class ApiToken(db.Model):
    """A bearer token: a name, a scope, an optional expiry; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100), default="", server_default="")
    scope: Mapped[str] = mapped_column(sa.String(10), default="admin", server_default="admin")
    expires_at = mapped_column(UTCDateTime)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_used_at = mapped_column(UTCDateTime)

    user = relationship("User")

    @property
    def company_id(self) -> int:  # for the audit trail
        return self.user.company_id

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str = "", scope: str = "admin",
              expires_at=None) -> tuple[ApiToken, str]:
        token = "hrld_" + secrets.token_urlsafe(32)
        return cls(user=user, token_hash=cls.hash(token), name=name, scope=scope,
                   expires_at=expires_at), token


class LoginSession(db.Model):
    """A portal login, server-side: the session cookie names it; logging out, the idle and
    the absolute timeout end it, whatever copy of the cookie is around."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_seen_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    ended_at = mapped_column(UTCDateTime)

    user = relationship("User")


class Role(db.Model):
    __tablename__ = "roles"
    __table_args__ = (sa.UniqueConstraint("company_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    builtin: Mapped[bool] = mapped_column(default=False)
    permissions: Mapped[list] = mapped_column(sa.JSON, default=list)


class RoleAssignment(db.Model):
    """A user holds a role; ``source`` says why (manual, recipient, sso)."""

    __tablename__ = "role_assignments"
    __table_args__ = (sa.UniqueConstraint("user_id", "role_id", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    role_id: Mapped[int] = mapped_column(sa.ForeignKey("roles.id", ondelete="CASCADE"),
                                         index=True)
    source: Mapped[str] = mapped_column(sa.String(20), default="manual")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    user = relationship("User", back_populates="assignments")
    role = relationship("Role", lazy="joined")
