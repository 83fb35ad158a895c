"""Retention: audit events older than AUDIT_RETENTION_DAYS, and portal logins that can never
be used again (ended, or older than SESSION_MAX_HOURS), go in bounded steps the tick takes
(jobs/tick.py). At most one step of each an hour while nothing is left over; a step that found
a full batch lets the next tick go on. Safe to repeat and to race: each deletes what is still
there."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from redis import Redis

from webapp.extensions import db
from webapp.models import AuditEvent, LoginSession

PRUNE_KEY = "herald:audit-prune"
LOGINS_KEY = "herald:login-prune"
PRUNE_EVERY = 3600  # seconds between steps once the backlog is gone
BATCH = 5000


def _step(conn: Redis, key: str, now: datetime, model, old, batch: int) -> int:
    """Delete at most ``batch`` rows of ``model`` matching ``old``, once an hour (or at the
    next tick while a full batch was found); how many went."""
    if not conn.set(key, now.isoformat(), nx=True, ex=PRUNE_EVERY):
        return 0
    ids = db.session.scalars(sa.select(model.id).where(old).order_by(model.id)
                             .limit(batch)).all()
    if ids:
        db.session.execute(sa.delete(model).where(model.id.in_(ids)))
    db.session.commit()
    if len(ids) == batch:
        conn.delete(key)  # more to do: the next tick goes on
    return len(ids)


def prune_audit(now: datetime, days: int, conn: Redis, batch: int = BATCH) -> int:
    """Delete at most ``batch`` audit events older than ``days``; how many went."""
    return _step(conn, PRUNE_KEY, now, AuditEvent,
                 AuditEvent.at < now - timedelta(days=days), batch)


def prune_logins(now: datetime, max_hours: int, conn: Redis, batch: int = BATCH) -> int:
    """Delete at most ``batch`` logins that ended or passed their absolute timeout."""
    return _step(conn, LOGINS_KEY, now, LoginSession,
                 sa.or_(LoginSession.ended_at.is_not(None),
                        LoginSession.created_at < now - timedelta(hours=max_hours)), batch)
