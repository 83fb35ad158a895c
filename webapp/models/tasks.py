"""Report tasks and their recipients."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .runs import Run
from .types import Encrypted, UTCDateTime, utcnow

TASK_STATUSES = ("inactive", "scheduled", "running")


class Task(db.Model):
    __tablename__ = "tasks"
    __table_args__ = (sa.Index("ix_tasks_due", "active", "next_run_at"),
                      sa.Index("ix_tasks_company_name", "company_id", "name"))

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    report_type: Mapped[str] = mapped_column(sa.String(64))
    channels: Mapped[list] = mapped_column(sa.JSON, default=list)
    schedule_kind: Mapped[str] = mapped_column(sa.String(16))
    schedule_time: Mapped[str] = mapped_column(sa.String(5))  # hh:mm
    schedule_every: Mapped[int | None] = mapped_column()
    schedule_weekday: Mapped[int | None] = mapped_column()  # 0 = Monday
    schedule_day: Mapped[int | None] = mapped_column()
    timezone: Mapped[str] = mapped_column(sa.String(64))
    options: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # The settings that are secret: encrypted at rest, never returned, scrubbed from messages.
    server: Mapped[dict | None] = mapped_column(  # upload destination (docs/product.md §5)
        Encrypted(("password", "proxy.password")))
    active: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="scheduled")
    series_start = mapped_column(UTCDateTime)  # when the current series was (re)activated
    next_run_at = mapped_column(UTCDateTime)
    watermark = mapped_column(UTCDateTime)  # where the last scheduled window ended
    # The instant after next_run_at, set while next_run_at's run is prepared ahead of it
    # (jobs/dispatch.py): non-null means that run exists, queued for its instant.
    prepared_following_at = mapped_column(UTCDateTime)
    # Optional end date in the task's zone; ends_at is when that day ends (jobs/series.py):
    # no run after it, and the task deactivates itself after its last run.
    ends_on = mapped_column(sa.Date)
    ends_at = mapped_column(UTCDateTime)
    catch_up: Mapped[str] = mapped_column(sa.String(8), default="combine",
                                          server_default="combine")  # or "each"
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
    # Alerts (jobs/alerts.py): its owner (who created it); the instant by which its next
    # scheduled run should have succeeded; when a "silent task" alert was raised (until the
    # "recovered" one).
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))
    success_due_at = mapped_column(UTCDateTime)
    silent_since = mapped_column(UTCDateTime)

    company = relationship("Company")
    created_by = relationship("User")
    recipients = relationship("TaskRecipient", back_populates="task", order_by="TaskRecipient.id",
                              cascade="all, delete-orphan")

    @property
    def recipient_emails(self) -> list[str]:
        """The recipients' addresses: as a list found them for all its tasks at once
        (services/lists.with_recipient_emails sets them), else from its recipients."""
        if _EMAILS in self.__dict__:
            return list(self.__dict__[_EMAILS])
        return [r.email for r in self.recipients]

    @recipient_emails.setter
    def recipient_emails(self, emails: list[str]) -> None:
        self.__dict__[_EMAILS] = emails

    @property
    def editable(self) -> bool:
        return self.status != "running"

    @property
    def last_run(self) -> Run | None:
        """The task's last run (the highest id, a Send test aside): as a list found it for all
        its tasks at once (services/lists.with_last_runs sets it; the task list's, a row of
        its id and status only), else one index probe of runs (task_id, id)."""
        if _LAST_RUN in self.__dict__:
            return self.__dict__[_LAST_RUN]
        return db.session.scalar(sa.select(Run).where(Run.task_id == self.id,
                                                      Run.trigger != "test")
                                 .order_by(Run.id.desc()).limit(1))

    @last_run.setter
    def last_run(self, run: Run | None) -> None:
        self.__dict__[_LAST_RUN] = run


_LAST_RUN = "_last_run_found"
_EMAILS = "_recipient_emails_found"


class TaskRecipient(db.Model):
    __tablename__ = "task_recipients"
    __table_args__ = (sa.UniqueConstraint("task_id", "email_key"),
                      sa.Index("ix_task_recipients_company_email", "company_id", "email_key"))

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"))
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"))
    email: Mapped[str] = mapped_column(sa.String(254))
    email_key: Mapped[str] = mapped_column(sa.String(254))

    task = relationship("Task", back_populates="recipients")
