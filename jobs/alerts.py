"""Alerts to the people responsible for a task — its owner (who created it) and every user who
may edit scheduled reports and opted in — sent by the housekeeping step (jobs/housekeeping.py):

- a run that ended failed or partial: one email per run (``runs.alerted_at`` is claimed before
  sending, so two dispatchers never send it twice; released again if sending failed);
- a **silent task**: its next scheduled run has not succeeded ``SILENCE_GRACE_MINUTES`` after
  its instant (``tasks.success_due_at``, moved on by every scheduled success): one alert
  (``tasks.silent_since``), then one "recovered" when a scheduled run succeeds again.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import sqlalchemy as sa
from flask import current_app

from roles.permissions import EDIT_TASKS
from webapp.extensions import db
from webapp.models import Run, Task, User
from webapp.models.users import email_key

from . import schedule as sched
from .delivery import mailer

log = logging.getLogger(__name__)
BATCH = 50  # alerts of each kind sent by one housekeeping step
RECENT = timedelta(days=1)  # a failure older than this when first seen is not alerted


def recipients(task: Task) -> list[str]:
    """The owner, and the users who opted in and may edit scheduled reports; active ones."""
    people = [task.created_by] if task.created_by is not None else []
    people += db.session.scalars(sa.select(User).where(
        User.company_id == task.company_id, User.failure_alerts.is_(True))).all()
    found: dict[str, str] = {}
    for user in people:
        if user.is_active and (user is task.created_by or EDIT_TASKS in user.permissions()):
            found.setdefault(email_key(user.email), user.email)
    return list(found.values())


def success_due_after(task: Task, run: Run) -> datetime:
    """When the task's next scheduled run should have succeeded, after ``run`` succeeded."""
    return sched.next_after(sched.of(task), run.scheduled_for, task.series_start)


def _send(task: Task, subject: str, body: str) -> bool:
    """Email the task's alert recipients; False when the mail server refused or was away."""
    config = current_app.config
    try:
        for address in recipients(task):
            message = EmailMessage()
            message["Subject"] = f"[{task.company.name}] {subject}"
            message["From"], message["To"] = config["MAIL_FROM"], address
            message["Message-ID"] = make_msgid("herald-alert")
            message.set_content(body + f"\n\nThe task: {config['BASE_URL']}/tasks/{task.id}\n"
                                "You get this as the task's owner, or because you asked for "
                                "alerts on the Scheduled Reports page.\n")
            mailer.send(message, task.company_id)
        db.session.commit()  # the built-in outbox
    except (OSError, smtplib.SMTPException) as exc:
        db.session.rollback()
        log.warning("alert about task %s not sent (tried again later): %s", task.id, exc)
        return False
    return True


def alert_failed_runs(now: datetime, limit: int = BATCH) -> list[int]:
    """Email one alert for each recently failed or partial run not alerted yet (not a Send
    test: whoever asked for it sees it on its page)."""
    pending = db.session.scalars(sa.select(Run.id).where(
        Run.status.in_(("failed", "partial")), Run.alerted_at.is_(None), Run.trigger != "test",
        Run.finished_at >= now - RECENT).order_by(Run.id).limit(limit)).all()
    sent = []
    for run_id in pending:
        claimed = db.session.execute(
            sa.update(Run).where(Run.id == run_id, Run.alerted_at.is_(None))
            .values(alerted_at=now).execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        if not claimed:
            continue
        run = db.session.get(Run, run_id)
        what = {"failed": "failed", "partial": "was only partly delivered"}[run.status]
        failures = [f"- {d.target}: {d.error}" for d in run.deliveries if d.status == "failed"]
        body = (f"Run #{run.id} of “{run.task.name}” {what}.\n"
                + (f"\nError: {run.error}\n" if run.error else "")
                + ("\nDeliveries that failed:\n" + "\n".join(failures) if failures else "")
                + f"\n\nThe run: {current_app.config['BASE_URL']}/runs/{run.id}")
        if _send(run.task, f"{run.task.name}: run {run.status}", body):
            sent.append(run_id)
        else:  # released: the next step tries again
            db.session.execute(sa.update(Run).where(Run.id == run_id)
                               .values(alerted_at=None))
            db.session.commit()
    return sent


def check_silent_tasks(now: datetime, grace: timedelta, limit: int = BATCH) -> dict:
    """Raise the "silent task" alert of tasks whose due success is over ``grace`` late, and
    the "recovered" one of silent tasks that succeeded since. Returns the task ids of each."""
    late = now - grace
    # A task without a due success yet (new, or from before alerts): its next instant.
    db.session.execute(sa.update(Task).where(
        Task.active.is_(True), Task.success_due_at.is_(None), Task.next_run_at.is_not(None))
        .values(success_due_at=Task.next_run_at).execution_options(synchronize_session=False))
    db.session.commit()
    silent = db.session.scalars(sa.select(Task.id).where(
        Task.active.is_(True), Task.silent_since.is_(None), Task.success_due_at < late,
        # that instant was dispatched (an edited schedule may have dropped it), or the
        # dispatcher is behind
        sa.or_(Task.watermark >= Task.success_due_at, Task.next_run_at < late))
        .limit(limit)).all()
    succeeded = sa.select(Run.id).where(
        Run.task_id == Task.id, Run.status.in_(("succeeded", "empty")),
        Run.trigger.not_in(("manual", "test")),
        Run.finished_at > Task.silent_since).exists()
    recovered = db.session.scalars(sa.select(Task.id).where(
        Task.silent_since.is_not(None), succeeded).limit(limit)).all()
    done = {"silent": [], "recovered": []}
    for task_id in silent:
        if _flip(task_id, None, now):
            task = db.session.get(Task, task_id)
            due = task.success_due_at
            if _send(task, f"{task.name}: silent task", (
                    f"“{task.name}” has not delivered: its scheduled run due at "
                    f"{due:%Y-%m-%d %H:%M} UTC has not succeeded within "
                    f"{grace.total_seconds() / 60:g} minutes. You will get one more email "
                    "when it runs again.")):
                done["silent"].append(task_id)
            else:
                _flip(task_id, now, None)
    for task_id in recovered:
        since = db.session.scalar(sa.select(Task.silent_since).where(Task.id == task_id))
        if _flip(task_id, since, None):
            task = db.session.get(Task, task_id)
            if _send(task, f"{task.name}: recovered", (
                    f"“{task.name}” runs again: a scheduled run succeeded after the silence "
                    f"reported at {since:%Y-%m-%d %H:%M} UTC.")):
                done["recovered"].append(task_id)
            else:
                _flip(task_id, None, since)
    return done


def _flip(task_id: int, old: datetime | None, new: datetime | None) -> bool:
    """Move a task's ``silent_since`` from ``old`` to ``new`` if no one else did."""
    current = Task.silent_since.is_(None) if old is None else Task.silent_since == old
    changed = db.session.execute(
        sa.update(Task).where(Task.id == task_id, current).values(silent_since=new)
        .execution_options(synchronize_session=False)).rowcount == 1
    db.session.commit()
    return changed
