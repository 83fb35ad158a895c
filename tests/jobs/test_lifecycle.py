"""The run lifecycle: claim, heartbeat, a worker killed mid-run (a real process, SIGKILL),
the reaper, the retry, a flushed Redis."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from rq import Queue

from jobs import dispatch as dispatcher
from jobs import held, reaper
from jobs.embedded_redis import free_port
from jobs.queue import REPORTS_QUEUE, SYSTEM_QUEUE
from jobs.runner import run_report
from jobs.scheduler import JOB_ID_PREFIX, HeraldScheduler
from webapp.extensions import db
from webapp.models import Run, Task
from webapp.services import tasks as task_service

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def new_task(company, now: datetime, schedule: dict | None = None) -> Task:
    data = task_service.validate(company, {
        "name": "Rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": schedule or {"kind": "daily", "time": "06:00"},
        "recipients": {"emails": ["ops@acme.example"]}})
    task = task_service.save(company, data, now)
    db.session.commit()
    return task


def fresh(model, ident):
    db.session.rollback()  # end our read transaction: see what the other process wrote
    return db.session.get(model, ident, populate_existing=True)


class Tarpit:
    """A real SMTP server that holds each message until released."""

    def __init__(self):
        self.release = threading.Event()
        self.arrived = threading.Event()
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.arrived.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        self.messages.append(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


@pytest.fixture
def tarpit(app):
    handler = Tarpit()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{controller.port}"
    yield handler
    handler.release.set()
    controller.stop()


def start_worker(app) -> subprocess.Popen:
    """A real worker process on the same database and Redis (jobs run inside it)."""
    keys = ("TESTING", "SQLALCHEMY_DATABASE_URI", "REDIS_URL", "REPORTS_DIR", "SECRET_KEY",
            "HERALD_ENCRYPTION_KEY", "SMTP_URL", "BASE_URL", "MAIL_FROM",
            "RUN_HEARTBEAT_TIMEOUT")
    config = {k: app.config[k] for k in keys}
    code = ("import json, os, redis; from webapp import create_app; "
            "from jobs.worker import work_burst; "
            "config = json.loads(os.environ['HERALD_TEST_CONFIG']); "
            "work_burst(create_app(config), redis.Redis.from_url(config['REDIS_URL']))")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT,
                            env={**os.environ, "HERALD_TEST_CONFIG": json.dumps(config)})


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_killed_mid_run_fails_the_run_retries_once_and_frees_the_task(
        app, make_company, api_token, tarpit, work):
    app.config["RUN_HEARTBEAT_TIMEOUT"] = 1.0
    company = make_company("Acme Bank")
    headers = api_token(company)
    task = new_task(company, datetime.now(UTC))
    client = app.test_client()
    response = client.post(f"/api/v1/tasks/{task.id}/runs", headers=headers)
    assert response.status_code == 202
    run_id = response.get_json()["id"]

    worker = start_worker(app)
    try:
        assert tarpit.arrived.wait(60), "the worker never reached the SMTP server"
        assert fresh(Run, run_id).status == "running"
        assert fresh(Task, task.id).status == "running"
        response = client.patch(f"/api/v1/tasks/{task.id}", headers=headers,
                                json={"name": "Renamed"})
        assert response.status_code == 409
        assert "running" in response.get_json()["error"]["message"]
        # Alive and beating: several timeouts pass, the reaper leaves it alone.
        first_beat = fresh(Run, run_id).heartbeat_at
        time.sleep(2.5)
        run = fresh(Run, run_id)
        assert run.heartbeat_at > first_beat
        assert reaper.reap(datetime.now(UTC), timedelta(seconds=1)) == []
        assert fresh(Run, run_id).status == "running"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    assert worker.returncode == -signal.SIGKILL

    time.sleep(1.5)  # the heartbeat timeout passes in silence
    [retry_id] = reaper.reap(datetime.now(UTC), timedelta(seconds=1))
    dead, retry = fresh(Run, run_id), fresh(Run, retry_id)
    assert dead.status == "failed"
    assert "stopped responding" in dead.error and "Retried once" in dead.error
    assert (retry.window_start, retry.window_end, retry.trigger) == (
        dead.window_start, dead.window_end, dead.trigger)
    assert (retry.attempt, retry.retry_of_id, retry.status) == (2, run_id, "queued")
    body = client.get(f"/api/v1/runs/{retry_id}", headers=headers).get_json()
    assert (body["attempt"], body["retry_of"]) == (2, run_id)
    assert fresh(Task, task.id).status == "scheduled"  # released: editable again
    response = client.patch(f"/api/v1/tasks/{task.id}", headers=headers,
                            json={"name": "Renamed"})
    assert response.status_code == 200, response.get_json()

    tarpit.release.set()
    work()
    retry = fresh(Run, retry_id)
    assert retry.status == "succeeded", retry.error
    assert [d.status for d in retry.deliveries] == ["sent"]
    assert ["ops@acme.example"] in tarpit.messages
    assert reaper.reap(datetime.now(UTC) + timedelta(hours=1), timedelta(seconds=1)) == []
    assert fresh(Task, task.id).status == "scheduled"


def test_a_retry_that_dies_too_is_not_retried_again(app, make_company, redis_conn):
    company = make_company("Acme Bank")
    task = new_task(company, datetime(2026, 1, 1, tzinfo=UTC))
    now = datetime(2026, 1, 2, 7, tzinfo=UTC)
    [run_id] = dispatcher.dispatch(now, redis_conn)
    for attempt in (1, 2):
        run = db.session.get(Run, run_id)
        run.status, run.heartbeat_at, run.started_at = "running", now, now
        task.status = "running"
        db.session.commit()
        assert reaper.reap(now + timedelta(minutes=4), timedelta(minutes=5),
                               redis_conn) == []
        retried = reaper.reap(now + timedelta(minutes=6), timedelta(minutes=5),
                                  redis_conn)
        assert db.session.get(Run, run_id).status == "failed"
        assert task.status == "scheduled"
        if attempt == 1:
            [run_id] = retried
            assert db.session.get(Run, run_id).attempt == 2
        else:
            assert retried == []
            assert "Not retried again" in db.session.get(Run, run_id).error
    assert db.session.scalar(sa.select(sa.func.count(Run.id))) == 2


def test_a_retry_does_not_send_again_what_the_dead_run_sent(app, make_company, redis_conn,
                                                            smtp_app, mailbox, work):
    company = make_company("Acme Bank")
    data = task_service.validate(company, {
        "name": "Rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:00"},
        "recipients": {"emails": ["a@acme.example", "b@acme.example"]}})
    task = task_service.save(company, data, datetime.now(UTC))
    db.session.commit()
    run = task_service.run_now(task, datetime.now(UTC))
    db.session.commit()
    held.enqueue(run.id, redis_conn)
    work()
    assert len(mailbox.messages) == 2
    run = db.session.get(Run, run.id)
    # Pretend it died after the first email: still running, second delivery not sent.
    run.status, run.heartbeat_at = "running", datetime.now(UTC) - timedelta(hours=1)
    run.deliveries[1].status = "pending"
    db.session.commit()
    [retry_id] = reaper.reap(datetime.now(UTC), timedelta(minutes=5), redis_conn)
    work()
    retry = db.session.get(Run, retry_id)
    assert retry.status == "succeeded"
    assert [(d.target, d.status) for d in retry.deliveries] == [
        ("a@acme.example", "sent"), ("b@acme.example", "sent")]
    assert [m[0] for m in mailbox.messages] == [["a@acme.example"], ["b@acme.example"],
                                               ["b@acme.example"]]
    dead = db.session.get(Run, run.id)
    assert [(d.target, d.status) for d in dead.deliveries] == [
        ("a@acme.example", "sent"), ("b@acme.example", "failed")]
    assert f"run #{retry_id}, its retry, delivers it" in dead.deliveries[1].error


def test_a_job_enqueued_twice_runs_its_run_once(app, make_company, redis_conn, work):
    company = make_company("Acme Bank")
    task = new_task(company, datetime.now(UTC))
    run = task_service.run_now(task, datetime.now(UTC))
    db.session.commit()
    queue = Queue(REPORTS_QUEUE, connection=redis_conn)
    queue.enqueue(run_report, run.id)
    queue.enqueue(run_report, run.id)
    work()
    run = fresh(Run, run.id)
    assert run.status == "succeeded"
    assert [d.attempts for d in run.deliveries] == [1]


def test_a_flushed_redis_gets_its_periodic_job_back_and_the_schedule_recovers(
        app, make_company, redis_conn, work):
    app.config["DISPATCH_INTERVAL"] = 1
    scheduler = HeraldScheduler(queue_name=SYSTEM_QUEUE, connection=redis_conn, interval=1,
                                dispatch_interval=1)
    company = make_company("Acme Bank")
    now = datetime.now(UTC)
    task = new_task(company, now - timedelta(hours=2),
                    {"kind": "hourly", "every": 1, "time": f"00:{(now.minute + 59) % 60:02d}",
                     "timezone": "UTC"})
    # A run was queued, then Redis lost everything (flushed, restarted without data).
    [lost] = dispatcher.dispatch(task.next_run_at, redis_conn)
    db.session.execute(sa.update(Run).values(created_at=now - timedelta(minutes=5)))
    db.session.commit()
    redis_conn.flushdb()
    scheduler.enqueue_jobs()  # one loop of the scheduler process
    system = Queue(SYSTEM_QUEUE, connection=redis_conn)
    assert [j.func_name for j in system.jobs] == ["jobs.tick.run_tick"]
    assert any(k.decode().startswith("rq:job:" + JOB_ID_PREFIX) for k in redis_conn.keys())
    scheduler.enqueue_jobs()  # registered once, not twice
    assert len(redis_conn.zrange(scheduler.scheduled_jobs_key, 0, -1)) == 1
    work()  # the tick re-enqueues the lost run, which then runs
    assert fresh(Run, lost).status == "succeeded"
