"""The reaper: runs whose worker died (no heartbeat) are failed with the reason and retried
once; deliveries whose worker died are recovered and retried when due."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Delivery, Run
from webapp.models.runs import MAX_ATTEMPTS

from . import metrics
from .delivery import attempts
from .held import enqueue_many
from .runner import update_task_status

log = logging.getLogger(__name__)


def reap(now: datetime, timeout: timedelta, conn=None) -> list[int]:
    """Runs whose heartbeat stopped more than ``timeout`` ago (worker killed, machine lost)
    are marked failed with the reason, their task is released, and each is retried once as
    a new run with the same window. Returns the ids of the retries."""
    cutoff = now - timeout
    last_sign = sa.func.coalesce(Run.heartbeat_at, Run.started_at, Run.created_at)
    stale = list(db.session.scalars(sa.select(Run.id).where(
        Run.status == "running", last_sign < cutoff)))
    retries: list[int] = []
    for run_id in stale:
        run = db.session.get(Run, run_id)
        last_beat = run.heartbeat_at or run.started_at or run.created_at
        error = (f"The worker running this report stopped responding: no heartbeat since "
                 f"{last_beat:%Y-%m-%d %H:%M:%S} UTC (more than {timeout.total_seconds():g} s)."
                 " It was killed or its machine was lost.")
        retry = run.attempt < MAX_ATTEMPTS
        error += (" Retried once with the same window." if retry else
                  f" Not retried again: this was attempt {run.attempt} of {MAX_ATTEMPTS}.")
        failed = db.session.execute(
            sa.update(Run).where(Run.id == run_id, Run.status == "running", last_sign < cutoff)
            .values(status="failed", finished_at=now, error=error)
            .execution_options(synchronize_session=False)).rowcount == 1
        if not failed:  # finished or beat meanwhile, or another reaper took it
            db.session.rollback()
            continue
        db.session.refresh(run)
        update_task_status(run.task, run)
        if retry:
            again = Run(company_id=run.company_id, task_id=run.task_id, trigger=run.trigger,
                        window_start=run.window_start, window_end=run.window_end,
                        status="queued", attempt=run.attempt + 1, retry_of_id=run.id)
            # An occurrence is delivered once: what the dead run sent stays sent.
            again.deliveries = [
                Delivery(company_id=d.company_id, kind=d.kind, target=d.target, status="sent",
                         attempts=d.attempts, delivered_at=d.delivered_at,
                         message_id=d.message_id)
                for d in run.deliveries if d.status == "sent"]
            # An email cut mid-send may have arrived: the retry sends that same message
            # (its Message-ID), which the recipient's mail system keeps once.
            again.deliveries += [
                Delivery(company_id=d.company_id, kind=d.kind, target=d.target,
                         message_id=d.message_id)
                for d in run.deliveries
                if d.status == "sending" and d.kind == "email" and d.message_id]
            if run.trigger == "test":  # its recipient is made with it, never by the worker
                again.deliveries += [Delivery(company_id=d.company_id, kind=d.kind,
                                              target=d.target)
                                     for d in run.deliveries if d.status in ("pending", "failed")
                                     or (d.status == "sending" and not d.message_id)]
            db.session.add(again)
            db.session.flush()
            # The others are the retry's to deliver: closed here, so that nothing else
            # (a delivery recovery) sends them a second time from this run.
            for delivery in run.deliveries:
                if delivery.status != "sent":
                    delivery.status = "failed"
                    delivery.error = (f"Not delivered by this run: its worker stopped; run "
                                      f"#{again.id}, its retry, delivers it.")
        db.session.commit()
        metrics.run_finished("failed")
        log.warning("run %s of task %s: %s", run.id, run.task_id, error)
        if retry:
            retries.append(again.id)
    enqueue_many(retries, conn)
    return retries


def retry_deliveries(now: datetime, conn=None) -> list[int]:
    """Deliveries whose worker died are marked failed; those due for a retry are enqueued."""
    attempts.recover_stale(now)
    retried = attempts.enqueue_due(now, conn)
    if retried:
        log.info("enqueued %d delivery retr%s", len(retried), "y" if len(retried) == 1 else "ies")
    return retried
