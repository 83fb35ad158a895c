"""Send test: the task's report, built now and emailed only to the admin who asked.

A run like Run now's (its window ends now and starts where the last scheduled window ended),
marked ``trigger = "test"``, whose only delivery is the asking user's address, made here: the
worker adds no recipient and no upload to a test run (jobs/runner.py). The watermark does not
move, and a test run is nobody's "last run": not the task's (lists, the API's ``last_run``),
not for alerts or the silent-task check (jobs/alerts.py), not in anyone's My reports.
"""

from __future__ import annotations

from datetime import datetime

from jobs import held

from ..extensions import db
from ..models import Delivery, Run, Task, User
from . import audit
from .tasks import extra_run_start

TRIGGER = "test"


def send_test(task: Task, user: User, now: datetime) -> Run:
    """Queue a test run of ``task`` for ``user`` (committed). RunPending while a run of the
    task is queued or running (a second press, another tab): that run, nothing new."""
    start = extra_run_start(task, now)
    run = Run(company_id=task.company_id, task_id=task.id, trigger=TRIGGER,
              window_start=start, window_end=now, status="queued")
    run.deliveries.append(Delivery(company_id=task.company_id, kind="email",
                                   target=user.email))
    db.session.add(run)
    db.session.flush()
    audit.record("task.send_test", task, details={"run_id": run.id, "to": user.email})
    db.session.commit()
    held.enqueue(run.id)
    return run
