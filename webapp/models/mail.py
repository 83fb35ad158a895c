"""Account mail held in the database while Redis could not take it (jobs/account_mail.py)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class HeldAccountMail(db.Model):
    """An invitation or password-link mail whose transaction committed while Redis refused
    the job: kept here, encrypted as the job would have carried it (``sealed``, with
    HERALD_ENCRYPTION_KEY), until the dispatcher tick queues it (oldest first, by ``id``)
    and deletes the row."""

    __tablename__ = "held_account_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        sa.ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    sealed: Mapped[str] = mapped_column(sa.Text)
    held_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
