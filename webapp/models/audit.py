"""The audit log: downloads and refused download attempts."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, utcnow


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_company_at", "company_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(40))  # e.g. download
    result: Mapped[str] = mapped_column(sa.String(40))  # allowed | refused
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
    at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    user = relationship("User")
