"""Housekeeping, a step of the dispatcher tick (jobs/tick.py) done at most every
``EVERY`` seconds by one dispatcher: report files past ``REPORT_RETENTION_DAYS`` are deleted
and their runs marked "expired"; alerts of failed runs and silent tasks go out
(jobs/alerts.py). Idempotent (a step cut short is finished by the next)
and bounded (``BATCH`` runs a step), so a tick never waits long for it."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import Company, Run
from webapp.models.runs import FINISHED

from . import alerts
from .reports import storage

log = logging.getLogger(__name__)
EVERY = 10  # seconds between two housekeeping steps, across every dispatcher
BATCH = 500  # runs expired by one step
LOCK = "herald:housekeeping"


def due(conn) -> bool:
    """True for one dispatcher every ``EVERY`` seconds."""
    return bool(conn.set(LOCK, "1", nx=True, ex=EVERY))


def housekeep(now: datetime, conn) -> None:
    if not due(conn):
        return
    config = current_app.config
    expire_reports(now, config["REPORT_RETENTION_DAYS"])
    alerts.alert_failed_runs(now)
    alerts.check_silent_tasks(now, timedelta(minutes=config["SILENCE_GRACE_MINUTES"]))


def expire_reports(now: datetime, days: int, limit: int = BATCH) -> list[int]:
    """Delete the files of finished runs older than ``days`` (0: keep forever), mark those
    runs "expired"; at most ``limit`` runs. Returns their ids."""
    if days <= 0:
        return []
    old = db.session.execute(
        sa.select(Run.id, Company.slug).join(Company, Company.id == Run.company_id)
        .where(Run.status.in_(FINISHED), Run.finished_at < now - timedelta(days=days))
        .order_by(Run.finished_at).limit(limit)).all()
    db.session.commit()
    if not old:
        return []
    storage.delete_runs((slug, run_id) for run_id, slug in old)
    ids = [run_id for run_id, _ in old]
    db.session.execute(
        sa.update(Run).where(Run.id.in_(ids), Run.status.in_(FINISHED))
        .values(status="expired", expired_at=now).execution_options(synchronize_session=False))
    db.session.commit()
    log.info("expired %d report(s) older than %d days", len(ids), days)
    return ids
