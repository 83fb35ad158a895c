"""run_report(run_id): build the CSV, store it, deliver it, record everything.

Thin on purpose: ids in, errors recorded on the run and re-raised so RQ sees them.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from webapp.extensions import db
from webapp.models import Delivery, Run, Task

from . import alerts, heartbeat, metrics
from .delivery import attempts
from .delivery.email import new_message_id
from .delivery.settings import target as server_target
from .reports import compress, registry, storage
from .reports.base import BuildContext
from .reports.csv import file_name, write_report
from .series import planned_release
from .shutdown import uninterruptible

log = logging.getLogger(__name__)


def run_report(run_id: int) -> str:
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:  # the run's objects stay loaded from one commit to the next (see _run_report)
        return _run_report(run_id)
    finally:
        session.expire_on_commit = expire


def _run_report(run_id: int) -> str:
    """The run, its task, company, recipients and deliveries are loaded once, fresh, just
    after the claim; nothing else writes them while the run is "running" (an edit of a
    running task is refused), and every write of this job goes through them, so they are
    not loaded again after each commit. Three commits in all for a run with one recipient:
    the claim; the build with its first delivery's claim; that delivery's outcome with the
    run's."""
    task_id = db.session.scalar(sa.select(Run.task_id).where(Run.id == run_id))
    if task_id is None:  # a prepared run cancelled before its instant, or its task deleted
        log.info("run %s no longer exists (cancelled or its task deleted); nothing to do",
                 run_id)
        return "cancelled"
    now = datetime.now(UTC)
    run = _claim(run_id, task_id, now)
    if run is None:  # done, running elsewhere, reaped or cancelled: never twice
        status = db.session.scalar(sa.select(Run.status).where(Run.id == run_id)) or \
            "cancelled"
        log.info("run %s is %s; nothing to do", run_id, status)
        return status
    task = run.task
    if run.scheduled_for is not None:  # the spread a task asks for is no lag
        lag = now - planned_release(run.scheduled_for, task)
        metrics.metrics().dispatch_lag.observe(max(0.0, lag.total_seconds()))
    every = heartbeat.heartbeat_every(current_app.config["RUN_HEARTBEAT_TIMEOUT"])
    with heartbeat.beating(run.id, every, db.engine):  # the process's heartbeat thread
        try:
            # No write may stay open while rows stream or mail goes out: it would hold the
            # run's row (PostgreSQL) or the whole database (SQLite) and stop the heartbeat.
            with db.session.no_autoflush:
                with metrics.metrics().build_seconds.time():
                    made = _build(run, now)
                _deliver(run, made)
        except Exception as exc:
            db.session.rollback()
            run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
            run.finished_at = datetime.now(UTC)
            update_task_status(task, run)
            db.session.commit()
            _record_end(run, now)
            raise
    if run.finished_at is None:  # not finished with its last delivery (see _deliver)
        _finish(run)
        db.session.commit()
    _record_end(run, now)
    failed = [d for d in run.deliveries if d.status == "failed"]
    if failed:  # recorded above; raised so that RQ records the job as failed too
        raise DeliveryError(f"{len(failed)} of {len(run.deliveries)} deliveries of run "
                            f"{run.id} failed: " + "; ".join(
                                f"{d.target}: {d.error}" for d in failed))
    return run.status


def _finish(run: Run) -> None:
    """The run's outcome from its deliveries, and its task's status (the caller commits)."""
    task = run.task
    run.status = attempts.outcome(run.deliveries)
    if run.status == "succeeded" and skips_email(run):
        run.status = "empty"  # no rows, and the task sends no email for that
    if run.status in ("succeeded", "empty") and run.scheduled_for is not None:
        task.success_due_at = alerts.success_due_after(task, run)  # not silent
    run.finished_at = datetime.now(UTC)
    update_task_status(task, run)


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
    the dispatcher, a retry) starts the run only once. Marks its task running; ``run`` is
    loaded again if claimed."""
    return _claim(run.id, run.task_id, now) is not None


def _claim(run_id: int, task_id: int, now: datetime) -> Run | None:
    """claim(); the run, loaded fresh with everything a run reads, or None if not claimed.

    The task's row is locked before the run's, in the order an edit takes them (which may
    delete a prepared run), so that the two cannot deadlock. SQLite has no row locks (a
    ``FOR UPDATE`` is dropped there, and the read takes no lock): its writers take the one
    database lock in turn, so the lock is not asked for there."""
    if db.engine.dialect.name != "sqlite":
        db.session.execute(sa.select(Task.id).where(Task.id == task_id).with_for_update())
    claimed = db.session.execute(
        sa.update(Run).where(Run.id == run_id, Run.status == "queued")
        .values(status="running", started_at=now, heartbeat_at=now, error=None)
        .execution_options(synchronize_session=False)).rowcount == 1
    if claimed:
        db.session.execute(sa.update(Task).where(Task.id == task_id).values(status="running")
                           .execution_options(synchronize_session=False))
    db.session.commit()
    if not claimed:
        return None
    return db.session.get(Run, run_id, populate_existing=True, options=[
        orm.joinedload(Run.task).selectinload(Task.recipients), orm.joinedload(Run.company),
        orm.joinedload(Run.deliveries)])  # usually none yet


def update_task_status(task: Task, run: Run) -> None:
    """The task's status once ``run`` is over: running while another of its runs still is."""
    others = db.session.scalar(sa.select(sa.func.count(Run.id)).where(
        Run.task_id == task.id, Run.status == "running", Run.id != run.id))
    task.status = "running" if others else ("scheduled" if task.active else "inactive")


class DeliveryError(RuntimeError):
    """Some deliveries of a run failed; each one's error is on its delivery row."""


def _build(run: Run, now: datetime) -> list[Delivery]:
    """Build and store the report; add the deliveries it still lacks (returned, not yet
    committed: _deliver commits them with the first one's claim)."""
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
        return []
    made = []
    emails = {d.target for d in run.deliveries if d.kind == "email"}
    for email in [] if skips_email(run) else task.recipient_emails:
        if email not in emails:
            # Its Message-ID is chosen now, committed with it: every attempt sends that one.
            made.append(Delivery(company_id=run.company_id, kind="email", target=email,
                                 message_id=new_message_id()))
    if task.server and rtype.server_upload and not any(
            d.kind == "server" for d in run.deliveries):
        made.append(Delivery(company_id=run.company_id, kind="server",
                             target=server_target(task.server)))
    run.deliveries.extend(made)
    return made


def skips_email(run: Run) -> bool:
    """The report has no rows and its task's option says to send no email then (an upload
    still goes: the server's reader may expect a file every time). A test is always sent."""
    return run.trigger != "test" and run.row_count == 0 and bool(
        (run.task.options or {}).get("skip_empty"))


def _deliver(run: Run, made: list[Delivery]) -> None:
    """The first attempt of every delivery, each on its own (jobs/delivery/attempts.py): a
    failed one is recorded with its retry time and the others still go out.

    A delivery made by this build is new to everyone else: the first one is claimed in the
    build's commit, and its attempt follows at once (no interrupt in between). The last
    attempt records the run's outcome in its own commit."""
    first = made[0] if made else None
    others = [d for d in run.deliveries if d is not first]
    with uninterruptible():
        if first is not None:
            first.status, first.attempts, first.claimed_at = "sending", 1, datetime.now(UTC)
        elif not others:  # nothing to deliver: the run ends with its build
            _finish(run)
        db.session.commit()
        todo = [d.id for d in others]  # their ids, once committed
        if first is not None:
            _attempt(run, first.id, first, last=not todo)
    for n, delivery_id in enumerate(todo, 1):
        _attempt(run, delivery_id, None, last=n == len(todo))


def _attempt(run: Run, delivery_id: int, claimed: Delivery | None, last: bool) -> None:
    try:
        attempts.attempt(delivery_id, 1, claimed=claimed,
                         finish=(lambda: _finish(run)) if last else None)
    except Exception:  # recorded on its row by attempt(); run_report raises DeliveryError
        log.exception("delivery %s of run %s failed unexpectedly", delivery_id, run.id)
        # What was not committed is dropped and reloaded: a run whose end did not commit
        # with this attempt (its commit failed) is finished by run_report.
        db.session.rollback()
