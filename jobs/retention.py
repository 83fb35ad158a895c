"""Retention: audit events older than AUDIT_RETENTION_DAYS go, in bounded steps the tick
takes (jobs/tick.py). At most one step an hour while nothing is left over; a step that found
a full batch lets the next tick go on. Safe to repeat and to race: each deletes what is
still there."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from redis import Redis

from webapp.extensions import db
from webapp.models import AuditEvent

PRUNE_KEY = "herald:audit-prune"
PRUNE_EVERY = 3600  # seconds between steps once the backlog is gone
BATCH = 5000


def prune_audit(now: datetime, days: int, conn: Redis, batch: int = BATCH) -> int:
    """Delete at most ``batch`` audit events older than ``days``; how many went."""
    if not conn.set(PRUNE_KEY, now.isoformat(), nx=True, ex=PRUNE_EVERY):
        return 0
    cutoff = now - timedelta(days=days)
    ids = db.session.scalars(sa.select(AuditEvent.id).where(AuditEvent.at < cutoff)
                             .order_by(AuditEvent.id).limit(batch)).all()
    if ids:
        db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id.in_(ids)))
    db.session.commit()
    if len(ids) == batch:
        conn.delete(PRUNE_KEY)  # more to do: the next tick goes on
    return len(ids)
