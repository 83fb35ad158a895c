"""Records → the API's JSON shapes (docs/product.md §8)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from jobs import schedule as sched
from jobs.delivery import settings as server_settings

from ...models import Run, Task


def iso(value: datetime | None, tz: str | None = None) -> str | None:
    if value is None:
        return None
    return value.astimezone(ZoneInfo(tz)).isoformat() if tz else value.isoformat()


def task_json(task: Task, last_run: Run | None) -> dict:
    return {
        "id": task.id, "name": task.name, "report_type": task.report_type,
        "channels": list(task.channels), "schedule": sched.of(task).as_dict(),
        "recipients": {"emails": task.recipient_emails,
                       "server": server_settings.present(task.server)},
        "options": dict(task.options or {}), "active": task.active, "status": task.status,
        "next_run_at": iso(task.next_run_at, task.timezone),
        "last_run": run_json(last_run, with_deliveries=False) if last_run else None,
    }


def run_json(run: Run, with_deliveries: bool = True) -> dict:
    tz = run.task.timezone
    data = {
        "id": run.id, "task_id": run.task_id, "trigger": run.trigger,
        "scheduled_for": iso(run.scheduled_for, tz), "window_start": iso(run.window_start, tz),
        "window_end": iso(run.window_end, tz), "status": run.status,
        "started_at": iso(run.started_at, tz), "finished_at": iso(run.finished_at, tz),
        "row_count": run.row_count, "file_name": run.file_name, "size_bytes": run.size_bytes,
        "summary": run.summary, "error": run.error,
        "attempt": run.attempt, "retry_of": run.retry_of_id,
    }
    if with_deliveries:
        data["deliveries"] = [
            {"kind": d.kind, "target": d.target,
             "status": "pending" if d.status == "sending" else d.status,  # the three documented states
             "attempts": d.attempts,
             "error": d.error, "delivered_at": iso(d.delivered_at, tz),
             "next_attempt_at": iso(d.next_attempt_at, tz)} for d in run.deliveries]
    return data
