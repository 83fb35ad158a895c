""""Retry failed deliveries now" on a run's page: its failed deliveries that still have an
attempt left are due now instead of at their backoff time (jobs/delivery/attempts.py)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from jobs.delivery import attempts

from ..extensions import db
from ..models import Delivery, Run
from . import audit


def retryable(run: Run) -> list[Delivery]:
    return [d for d in run.deliveries if d.status == "failed" and d.next_attempt_at]


def retry_now(run: Run, now: datetime) -> int:
    """Make the run's retryable deliveries due now, commit and enqueue them; how many."""
    ids = [d.id for d in retryable(run)]
    if not ids:
        return 0
    db.session.execute(sa.update(Delivery).where(
        Delivery.id.in_(ids), Delivery.status == "failed",
        Delivery.next_attempt_at.is_not(None)).values(next_attempt_at=now))
    audit.record("run.retry_deliveries", run, details={"deliveries": len(ids)})
    db.session.commit()
    attempts.enqueue_due(now)
    return len(ids)
