"""Runs of a task and their deliveries."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, utcnow

# "empty": the report had no rows and its task skips empty reports: no email was sent.
# "expired": its file was deleted after REPORT_RETENTION_DAYS (jobs/housekeeping.py); the
# row, its deliveries and what it did stay.
RUN_STATUSES = ("queued", "running", "succeeded", "empty", "partial", "failed", "expired")
FINISHED = ("succeeded", "empty", "partial", "failed")
# "test": Send test, mailed only to the admin who asked (webapp/services/send_test.py).
RUN_TRIGGERS = ("scheduled", "catch_up", "manual", "test")
MAX_ATTEMPTS = 2  # a run whose worker died is run once more, with the same window
# pending → sending → sent | failed; failed → sending again while attempts remain
# (jobs/delivery/attempts.py). "sending" is the claim of one worker; the API shows it as pending.
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed")


class Run(db.Model):
    """One occurrence of a task. Unique on (task, scheduled instant): never created twice.

    A run whose worker died is marked failed and retried once as a new run (``attempt`` 2,
    ``retry_of_id`` pointing at it, unique) with the same window and trigger.
    """

    __tablename__ = "runs"
    __table_args__ = (sa.UniqueConstraint("task_id", "scheduled_for"),
                      sa.Index("ix_runs_task_created", "task_id", "id"),
                      sa.Index("ix_runs_status", "status"),
                      sa.Index("ix_runs_status_finished", "status", "finished_at"),
                      sa.Index("ix_runs_task_status_id", "task_id", "status", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(sa.String(16), default="scheduled")
    scheduled_for = mapped_column(UTCDateTime)  # null for "run now"
    window_start = mapped_column(UTCDateTime, nullable=False)
    window_end = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at = mapped_column(UTCDateTime)
    finished_at = mapped_column(UTCDateTime)
    heartbeat_at = mapped_column(UTCDateTime)
    row_count: Mapped[int | None] = mapped_column()
    file_name: Mapped[str | None] = mapped_column(sa.String(255))
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    summary: Mapped[str | None] = mapped_column(sa.String(500))  # the email's summary line
    error: Mapped[str | None] = mapped_column(sa.Text)
    attempt: Mapped[int] = mapped_column(default=1, server_default="1")
    retry_of_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="SET NULL"), unique=True)
    expired_at = mapped_column(UTCDateTime)  # when its file was deleted (status "expired")
    alerted_at = mapped_column(UTCDateTime)  # when its failure was emailed (jobs/alerts.py)

    task = relationship("Task")
    retry_of = relationship("Run", remote_side=[id])
    company = relationship("Company")
    deliveries = relationship("Delivery", back_populates="run", order_by="Delivery.id",
                              cascade="all, delete-orphan")

    @property
    def done(self) -> bool:
        return self.status in FINISHED or self.status == "expired"


class Delivery(db.Model):
    """One recipient of one run: an email address or the upload server."""

    __tablename__ = "deliveries"
    __table_args__ = (sa.UniqueConstraint("run_id", "kind", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # email | server
    target: Mapped[str] = mapped_column(sa.String(300))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    delivered_at = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(sa.String(300))
    claimed_at = mapped_column(UTCDateTime)  # when the current attempt started
    next_attempt_at = mapped_column(UTCDateTime, index=True)  # a failed delivery's retry

    run = relationship("Run", back_populates="deliveries")


class OutboxMessage(db.Model):
    """Mail that would have been sent, kept when no SMTP_URL is configured."""

    __tablename__ = "outbox_messages"
    __table_args__ = (sa.Index("ix_outbox_messages_company_id_id", "company_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int | None] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    to_addr: Mapped[str] = mapped_column(sa.String(254))
    from_addr: Mapped[str] = mapped_column(sa.String(300))
    subject: Mapped[str] = mapped_column(sa.String(500))
    text_body: Mapped[str] = mapped_column(sa.Text)
    html_body: Mapped[str] = mapped_column(sa.Text)
    message_id: Mapped[str] = mapped_column(sa.String(300))
    # The run a report email is about: the Outbox links to it from here, never from the text.
    run_id: Mapped[int | None] = mapped_column()
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
