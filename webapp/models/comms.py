"""Communications data the reports read (docs/product.md §7). Every row belongs to a company
and keeps the source system's id (``external_id``) for idempotent ingestion."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime

CHANNELS = ("whatsapp", "imessage", "sms", "wecom", "wechat", "telegram", "line", "signal")
ACCOUNT_STATUSES = ("connected", "disconnected", "pending", "error")
ROOM_TYPES = ("direct", "group")
DIRECTIONS = ("sent", "received")


class OrgUnit(db.Model):
    __tablename__ = "org_units"
    __table_args__ = (sa.UniqueConstraint("company_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    external_id: Mapped[str] = mapped_column(sa.String(200))
    name: Mapped[str] = mapped_column(sa.String(200))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_units.id"))


class Account(db.Model):
    """A corporate number or handle on one channel."""

    __tablename__ = "accounts"
    __table_args__ = (sa.UniqueConstraint("company_id", "external_id"),
                      sa.Index("ix_accounts_company_channel", "company_id", "channel"))

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    external_id: Mapped[str] = mapped_column(sa.String(200))
    channel: Mapped[str] = mapped_column(sa.String(16))
    identifier: Mapped[str] = mapped_column(sa.String(200))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="connected")
    status_since = mapped_column(UTCDateTime)
    last_activity_at = mapped_column(UTCDateTime)

    user = relationship("User")


class Room(db.Model):
    __tablename__ = "rooms"
    __table_args__ = (sa.UniqueConstraint("company_id", "external_id"),
                      sa.Index("ix_rooms_company_channel", "company_id", "channel"))

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    external_id: Mapped[str] = mapped_column(sa.String(200))
    channel: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(500), default="")
    type: Mapped[str] = mapped_column(sa.String(16), default="direct")
    org_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_units.id"))
    governed: Mapped[bool] = mapped_column(default=True)
    owner_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at = mapped_column(UTCDateTime)
    participants: Mapped[int] = mapped_column(default=0)
    internal_participants: Mapped[int] = mapped_column(default=0)
    external_participants: Mapped[int] = mapped_column(default=0)

    org_unit = relationship("OrgUnit")


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (sa.UniqueConstraint("company_id", "external_id"),
                      # covers the usage aggregations: an index-only range scan of the window
                      sa.Index("ix_messages_company_sent_at", "company_id", "sent_at",
                               "room_id", "account_id", "direction"),
                      sa.Index("ix_messages_room_sent_at", "room_id", "sent_at"),
                      sa.Index("ix_messages_account_sent_at", "account_id", "sent_at"))

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    external_id: Mapped[str] = mapped_column(sa.String(200))
    room_id: Mapped[int] = mapped_column(sa.ForeignKey("rooms.id"))
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    direction: Mapped[str] = mapped_column(sa.String(8))
    sent_at = mapped_column(UTCDateTime, nullable=False)
