"""Single sign-on: a company's OpenID Connect settings and the identities that logged in."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import Encrypted, UTCDateTime, utcnow

SYNC_MODES = ("sso_only", "replace_all")


class SsoSettings(db.Model):
    """One per company. ``client_secret`` is stored encrypted (webapp/crypto.py)."""

    __tablename__ = "sso_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), unique=True)
    enabled: Mapped[bool] = mapped_column(default=False)
    issuer: Mapped[str] = mapped_column(sa.String(500), default="")
    client_id: Mapped[str] = mapped_column(sa.String(255), default="")
    client_secret: Mapped[str | None] = mapped_column(Encrypted())  # fernet:…
    groups_claim: Mapped[str] = mapped_column(sa.String(100), default="groups")
    # IdP group → list of Herald role names
    role_mapping: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    sync_mode: Mapped[str] = mapped_column(sa.String(20), default="sso_only")
    allow_signup: Mapped[bool] = mapped_column(default=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    company = relationship("Company")


class SsoIdentity(db.Model):
    """The IdP subject a user logged in as, and the claims of the last login (to predict what
    the role mapping gives the user, for the settings page's warning)."""

    __tablename__ = "sso_identities"
    __table_args__ = (sa.UniqueConstraint("company_id", "issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         unique=True)
    issuer: Mapped[str] = mapped_column(sa.String(500))
    subject: Mapped[str] = mapped_column(sa.String(255))
    last_claims: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    last_login_at = mapped_column(UTCDateTime)

    user = relationship("User")
