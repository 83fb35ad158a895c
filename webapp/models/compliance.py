"""Compliance and archiving events the reports read (docs/product.md §7): policy violations,
irregularities that stop archiving, and the emails that export messages to the archive.
Each row belongs to a company and keeps the source system's id (``external_id``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime

VIOLATION_TYPES = ("dlp", "room_condition")
VIOLATION_ACTIONS = ("blocked", "flagged")
EXPORT_STATUSES = ("sent", "failed")


class Violation(db.Model):
    """A DLP or room-condition policy hit; its channel is its room's."""

    __tablename__ = "violations"
    __table_args__ = (sa.UniqueConstraint("company_id", "external_id"),
                      sa.Index("ix_violations_company_occurred_at", "company_id", "occurred_at"),
                      sa.Index("ix_violations_room_id", "room_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    external_id: Mapped[str] = mapped_column(sa.String(200))
    room_id: Mapped[int] = mapped_column(sa.ForeignKey("rooms.id"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    type: Mapped[str] = mapped_column(sa.String(16))
    policy: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(16))
    occurred_at = mapped_column(UTCDateTime, nullable=False)


class Irregularity(db.Model):
    """An event on a channel that may stop archiving (a disconnected number, an anonymous
    WeCom contact, ...)."""

    __tablename__ = "irregularities"
    __table_args__ = (
        sa.UniqueConstraint("company_id", "external_id"),
        sa.Index("ix_irregularities_company_occurred_at", "company_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    external_id: Mapped[str] = mapped_column(sa.String(200))
    channel: Mapped[str] = mapped_column(sa.String(16))
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    room_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rooms.id"))
    org_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_units.id"))
    event_type: Mapped[str] = mapped_column(sa.String(64))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    contact: Mapped[str | None] = mapped_column(sa.String(200))
    archiving_stopped: Mapped[bool] = mapped_column(default=False)
    occurred_at = mapped_column(UTCDateTime, nullable=False)


class ExportEmail(db.Model):
    """One email that carried a room's messages to the archive; its channel is its room's."""

    __tablename__ = "export_emails"
    __table_args__ = (
        sa.UniqueConstraint("company_id", "external_id"),
        sa.Index("ix_export_emails_company_exported_at", "company_id", "exported_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    external_id: Mapped[str] = mapped_column(sa.String(200))
    room_id: Mapped[int] = mapped_column(sa.ForeignKey("rooms.id"))
    messages: Mapped[int] = mapped_column(default=0)
    archive_address: Mapped[str] = mapped_column(sa.String(254))
    email_message_id: Mapped[str] = mapped_column(sa.String(500), default="")
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    status: Mapped[str] = mapped_column(sa.String(16))
    smtp_response: Mapped[str] = mapped_column(sa.Text, default="")
    exported_at = mapped_column(UTCDateTime, nullable=False)
