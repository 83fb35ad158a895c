"""What a scaled-out Herald needs when Redis restarts or a worker dies mid-email: workers and
schedulers carry on (a worker registers again), and a dead run's retry sends an email whose
outcome was unknown with its Message-ID (tests/e2e/test_scale_out.py runs it for real)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import redis
from rq import Worker

from jobs import reaper
from jobs.scheduler import run_forever
from jobs.worker import BEAT_GAP, HeraldWorker, queues, work_until_stopped
from webapp.extensions import db
from webapp.models import Delivery, Run
from webapp.services import tasks as task_service


def test_a_worker_registers_again_after_redis_forgot_it(redis_conn):
    worker = HeraldWorker(queues(redis_conn), connection=redis_conn)
    worker.register_birth()
    assert [w.name for w in Worker.all(connection=redis_conn)] == [worker.name]
    redis_conn.flushall()  # a Redis restarted without its data
    assert Worker.all(connection=redis_conn) == []
    worker.heartbeat()
    assert [w.name for w in Worker.all(connection=redis_conn)] == [worker.name]
    assert Worker.all(connection=redis_conn)[0].last_heartbeat is not None


def test_a_worker_beats_on_its_own_at_most_once_a_gap_and_never_for_less(redis_conn):
    worker = HeraldWorker(queues(redis_conn), connection=redis_conn)
    worker.register_birth()
    stale = "2020-01-01T00:00:00.000000Z"

    def beaten() -> bool:
        return redis_conn.hget(worker.key, "last_heartbeat").decode() != stale

    worker.heartbeat()
    redis_conn.hset(worker.key, "last_heartbeat", stale)
    worker.heartbeat()  # RQ's next beat, a moment later: not sent
    assert not beaten()
    worker.heartbeat(timeout=1000)  # it would push the expiry further: sent
    assert beaten() and redis_conn.ttl(worker.key) > 900
    redis_conn.hset(worker.key, "last_heartbeat", stale)
    with redis_conn.pipeline() as pipe:  # with RQ's writes before a job: always sent
        worker.heartbeat(50, pipeline=pipe)
        pipe.execute()
    assert beaten() and redis_conn.ttl(worker.key) <= 50
    redis_conn.hset(worker.key, "last_heartbeat", stale)
    worker.heartbeat()  # the expiry would be set further than the last beat set it: sent
    assert beaten() and redis_conn.ttl(worker.key) > 90

    redis_conn.flushall()  # a Redis restarted without its data
    worker.heartbeat()  # within the gap: not sent, not checked
    assert Worker.all(connection=redis_conn) == []
    time.sleep(BEAT_GAP)
    worker.heartbeat()
    assert [w.name for w in Worker.all(connection=redis_conn)] == [worker.name]


def test_the_scheduler_starts_again_when_redis_is_away():
    attempts, waits = [], []

    class Flaky:
        def run(self):
            attempts.append(1)
            if len(attempts) < 4:
                raise redis.ConnectionError("Connection refused")

    run_forever(Flaky, sleep=waits.append, most=3)
    assert len(attempts) == 4 and waits == [1, 2, 3]


def test_a_worker_starts_again_when_redis_is_away_and_stops_when_asked():
    made, waits = [], []

    class Worker:
        def __init__(self):
            made.append(self)
            self._stop_requested = False
            self.stopping = len(made) == 3  # a SIGTERM while idle: RQ's flag stays False

        def work(self, **kwargs):
            if len(made) == 1:
                raise redis.ConnectionError("Connection refused")  # during its teardown

    def make():
        if not made:  # making one talks to Redis too
            made.append(None)
            raise redis.TimeoutError("timed out")
        return Worker()

    work_until_stopped(make, "INFO", sleep=waits.append)
    assert len(made) == 3 and waits == [1, 2]


def test_a_dead_runs_retry_sends_an_unconfirmed_email_with_its_message_id(
        app, make_company, redis_conn):
    company = make_company("Acme Bank")
    data = task_service.validate(company, {
        "name": "Rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:00"},
        "recipients": {"emails": ["a@acme.example", "b@acme.example"]}})
    task = task_service.save(company, data, datetime.now(UTC))
    db.session.commit()
    run = task_service.run_now(task, datetime.now(UTC))
    db.session.commit()

    # Killed while the mail server took b's email: a was not attempted yet.
    run.status, run.heartbeat_at = "running", datetime.now(UTC) - timedelta(hours=1)
    run.deliveries = [
        Delivery(company_id=company.id, kind="email", target="a@acme.example"),
        Delivery(company_id=company.id, kind="email", target="b@acme.example",
                 status="sending", attempts=1, message_id="<1.herald@acme.example>")]
    db.session.commit()
    [retry_id] = reaper.reap(datetime.now(UTC), timedelta(minutes=5), redis_conn)
    retry = db.session.get(Run, retry_id)
    assert [(d.target, d.status, d.message_id) for d in retry.deliveries] == [
        ("b@acme.example", "pending", "<1.herald@acme.example>")]
