"""run_report(run_id): build the CSV, store it, deliver it, record everything.

Thin on purpose: ids in, errors recorded on the run and re-raised so RQ sees them.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import OperationalError

from webapp.extensions import db
from webapp.models import Delivery, Run, Task

from . import alerts, metrics
from .delivery import attempts
from .delivery.email import new_message_id
from .delivery.settings import target as server_target
from .reports import compress, registry, storage
from .reports.base import BuildContext
from .reports.csv import file_name, write_report
from .series import planned_release

log = logging.getLogger(__name__)


def run_report(run_id: int) -> str:
    run = db.session.get(Run, run_id)
    if run is None:  # a prepared run cancelled before its instant, or its task deleted
        log.info("run %s no longer exists (cancelled or its task deleted); nothing to do",
                 run_id)
        return "cancelled"
    now = datetime.now(UTC)
    if not claim(run, now):  # done, running elsewhere, reaped or cancelled: never twice
        status = db.session.scalar(sa.select(Run.status).where(Run.id == run_id)) or \
            "cancelled"
        log.info("run %s is %s; nothing to do", run_id, status)
        return status
    task = run.task
    if run.scheduled_for is not None:  # the spread a task asks for is no lag
        lag = now - planned_release(run.scheduled_for, task)
        metrics.metrics().dispatch_lag.observe(max(0.0, lag.total_seconds()))
    with Heartbeat(run.id, heartbeat_every(current_app.config["RUN_HEARTBEAT_TIMEOUT"])):
        try:
            # No write may stay open while rows stream or mail goes out: it would hold the
            # run's row (PostgreSQL) or the whole database (SQLite) and stop the heartbeat.
            with db.session.no_autoflush:
                with metrics.metrics().build_seconds.time():
                    _build(run, now)
                _deliver(run)
        except Exception as exc:
            db.session.rollback()
            run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
            run.finished_at = datetime.now(UTC)
            update_task_status(task, run)
            db.session.commit()
            _record_end(run, now)
            raise
    failed = [d for d in run.deliveries if d.status == "failed"]
    run.status = attempts.outcome(run.deliveries)
    if run.status == "succeeded" and skips_email(run):
        run.status = "empty"  # no rows, and the task sends no email for that
    if run.status in ("succeeded", "empty") and run.scheduled_for is not None:
        task.success_due_at = alerts.success_due_after(task, run)  # not silent
    run.finished_at = datetime.now(UTC)
    update_task_status(task, run)
    db.session.commit()
    _record_end(run, now)
    if failed:  # recorded above; raised so that RQ records the job as failed too
        raise DeliveryError(f"{len(failed)} of {len(run.deliveries)} deliveries of run "
                            f"{run.id} failed: " + "; ".join(
                                f"{d.target}: {d.error}" for d in failed))
    return run.status


def _record_end(run: Run, started: datetime) -> None:
    """One log line per run, and the runs metric."""
    metrics.run_finished(run.status)
    log.info("run %s of task %s (%s) %s in %.2f s%s", run.id, run.task_id, run.company.slug,
             run.status, (run.finished_at - started).total_seconds(),
             f": {run.error}" if run.error else "",
             extra={"run_id": run.id, "task_id": run.task_id, "company": run.company.slug,
                    "outcome": run.status,
                    "duration": round((run.finished_at - started).total_seconds(), 3)})


def claim(run: Run, now: datetime) -> bool:
    """Move a queued run to running, atomically: a job enqueued twice (a re-enqueue racing
    the dispatcher, a retry) starts the run only once. Marks its task running.

    The task's row is locked before the run's, in the order an edit takes them (which may
    delete a prepared run), so that the two cannot deadlock."""
    db.session.execute(sa.select(Task.id).where(Task.id == run.task_id).with_for_update())
    claimed = db.session.execute(
        sa.update(Run).where(Run.id == run.id, Run.status == "queued")
        .values(status="running", started_at=now, heartbeat_at=now, error=None)
        .execution_options(synchronize_session=False)).rowcount == 1
    if claimed:
        run.task.status = "running"
    db.session.commit()
    if claimed:
        db.session.refresh(run)
    return claimed


def update_task_status(task: Task, run: Run) -> None:
    """The task's status once ``run`` is over: running while another of its runs still is."""
    others = db.session.scalar(sa.select(sa.func.count(Run.id)).where(
        Run.task_id == task.id, Run.status == "running", Run.id != run.id))
    task.status = "running" if others else ("scheduled" if task.active else "inactive")


def heartbeat_every(timeout: float) -> float:
    """Beat often enough that a few missed beats (a busy database) never look like death."""
    return max(0.05, timeout / 6)


class Heartbeat:
    """Updates ``heartbeat_at`` of a running run every ``every`` seconds from a thread, on
    its own database connection, until the block ends. A process that dies stops beating:
    the reaper (jobs/reaper.py) sees the silence and fails the run."""

    def __init__(self, run_id: int, every: float):
        self.run_id, self.every = run_id, every
        self.engine = db.engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-run-{run_id}",
                                        daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        table = Run.__table__
        while not self._stop.wait(self.every):
            try:
                with self.engine.begin() as conn:
                    conn.execute(table.update().where(table.c.id == self.run_id,
                                                      table.c.status == "running")
                                 .values(heartbeat_at=datetime.now(UTC)))
            except OperationalError as exc:  # database busy or away: the next beat retries
                log.warning("heartbeat of run %s missed: %s", self.run_id, exc)


class DeliveryError(RuntimeError):
    """Some deliveries of a run failed; each one's error is on its delivery row."""


def _build(run: Run, now: datetime) -> None:
    task, company = run.task, run.company
    rtype = registry.get(task.report_type)
    if rtype is None or not rtype.creatable:
        raise ValueError(f"report type {task.report_type!r} cannot be built")
    tz = ZoneInfo(task.timezone)
    start, end = (now, now) if rtype.snapshot else (run.window_start, run.window_end)
    ctx = BuildContext(company_id=company.id, company_name=company.name,
                       channels=tuple(task.channels), window_start=start, window_end=end,
                       timezone=tz, options=dict(task.options or {}))
    gz = bool(ctx.options.get("gzip"))
    run.file_name = file_name(company.slug, rtype.key, start.astimezone(tz),
                              end.astimezone(tz)) + (compress.SUFFIX if gz else "")
    with storage.writing(run) as path:  # a local file, then into the store (S3: multipart)
        with compress.gzipped(path, gz) as csv_path:
            run.row_count, run.size_bytes = write_report(
                csv_path, db.session, rtype, ctx, excel_bom=bool(ctx.options.get("excel_bom")))
        run.size_bytes = os.path.getsize(path)
    run.summary = rtype.summary(run.row_count, db.session, ctx)
    if run.trigger == "test":  # its one delivery, to the admin who asked, is made already
        db.session.commit()
        return
    emails = {d.target for d in run.deliveries if d.kind == "email"}
    for email in [] if skips_email(run) else task.recipient_emails:
        if email not in emails:
            # Its Message-ID is chosen now, committed with it: every attempt sends that one.
            run.deliveries.append(Delivery(company_id=run.company_id, kind="email",
                                           target=email, message_id=new_message_id()))
    if task.server and rtype.server_upload and not any(
            d.kind == "server" for d in run.deliveries):
        run.deliveries.append(Delivery(company_id=run.company_id, kind="server",
                                       target=server_target(task.server)))
    db.session.commit()


def skips_email(run: Run) -> bool:
    """The report has no rows and its task's option says to send no email then (an upload
    still goes: the server's reader may expect a file every time). A test is always sent."""
    return run.trigger != "test" and run.row_count == 0 and bool(
        (run.task.options or {}).get("skip_empty"))


def _deliver(run: Run) -> None:
    """The first attempt of every delivery, each on its own (jobs/delivery/attempts.py): a
    failed one is recorded with its retry time and the others still go out."""
    for delivery_id in [d.id for d in run.deliveries]:
        try:
            attempts.attempt(delivery_id, 1)
        except Exception:  # recorded on its row by attempt(); run_report raises DeliveryError
            log.exception("delivery %s of run %s failed unexpectedly", delivery_id, run.id)
    db.session.refresh(run)
