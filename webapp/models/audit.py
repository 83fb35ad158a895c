"""The audit log: who did what to which target, from where, with the changed fields (secrets
masked). An event outlives its target: it keeps the target's type, id and name as text."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, utcnow


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    # The audit log's keyset pages, newest first: unfiltered, by action, by actor (its filter
    # compares lower(actor)), by both; each ends with the id (EXPLAIN: test_list_indexes.py).
    __table_args__ = (sa.Index("ix_audit_events_company_at", "company_id", "at"),
                      sa.Index("ix_audit_events_company_id_id", "company_id", "id"),
                      sa.Index("ix_audit_events_company_action_id", "company_id", "action", "id"),
                      sa.Index("ix_audit_events_company_actor_id", "company_id",
                               sa.func.lower(sa.column("actor")), "id"),
                      sa.Index("ix_audit_events_company_actor_action_id", "company_id",
                               sa.func.lower(sa.column("actor")), "action", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(sa.String(254), default="system")  # email or "system"
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(40))  # e.g. task.update, run.download
    result: Mapped[str] = mapped_column(sa.String(40), default="ok")  # ok, allowed, refused…
    target_type: Mapped[str | None] = mapped_column(sa.String(40))
    target_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    target_name: Mapped[str | None] = mapped_column(sa.String(300))
    details: Mapped[dict | None] = mapped_column(sa.JSON)
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
    at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    user = relationship("User")
