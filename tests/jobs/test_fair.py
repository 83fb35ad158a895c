"""Fair turns between companies on the reports queue (jobs/fair.py), on a real Redis and
RQ's own dequeue: a small company's job is never stuck behind a big company's many."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from rq import Queue
from rq.job import Job

from jobs import dispatch as dispatcher
from jobs import fair, held
from jobs.fair import FairQueue
from jobs.queue import REPORTS_QUEUE, SYSTEM_QUEUE
from webapp.extensions import db
from webapp.models import Run, Task
from webapp.services import tasks as task_service

NOW = datetime(2030, 1, 1, 6, tzinfo=UTC)


def release(conn, runs):
    held.hold([(run_id, NOW, company) for run_id, company in runs], conn)
    return held.release_held(NOW, conn)


def drain(conn, keys=(REPORTS_QUEUE,)) -> list[int]:
    """Dequeue everything as a worker does (RQ's dequeue_any through FairQueue)."""
    queues = [FairQueue(name, connection=conn) for name in keys]
    order = []
    while (got := FairQueue.dequeue_any(queues, None, connection=conn)) is not None:
        order.append(held.run_id_of(got[0].id))
    return order


def test_a_small_company_is_served_second_not_last(app, redis_conn):
    release(redis_conn, [(run_id, 1) for run_id in range(1, 101)])  # A: 100 jobs
    release(redis_conn, [(1000, 2)])  # B: one job, queued after all of A's
    queue = Queue(REPORTS_QUEUE, connection=redis_conn)
    assert queue.count == 101
    queued = [held.run_id_of(j) for j in queue.job_ids]
    order = drain(redis_conn, (SYSTEM_QUEUE, REPORTS_QUEUE))  # RQ's LPOP path
    assert order.index(1000) == 1
    assert sorted(order) == [*range(1, 101), 1000]  # every job exactly once
    assert [r for r in order if r != 1000] == queued[:-1]  # A's in the order they came
    assert queue.count == 0 and not redis_conn.keys("herald:fair:*")


def test_turns_go_round_the_companies_with_waiting_jobs(app, redis_conn):
    release(redis_conn, [(1, 1), (2, 1), (3, 1), (4, 1), (11, 2), (12, 2), (21, 3)])
    assert drain(redis_conn) == [1, 11, 21, 2, 12, 3, 4]  # single queue: RQ's BLMOVE path
    intermediate = f"{Queue(REPORTS_QUEUE, connection=redis_conn).key}:intermediate"
    moved = [held.run_id_of(j) for j in redis_conn.lrange(intermediate, 0, -1)]
    assert sorted(moved) == [1, 2, 3, 4, 11, 12, 21]  # what RQ moved is what was returned


def test_jobs_without_a_company_and_jobs_gone_are_handled(app, redis_conn):
    release(redis_conn, [(1, 1), (2, 1), (3, 2)])
    queue = Queue(REPORTS_QUEUE, connection=redis_conn)
    queue.enqueue("os.getpid", job_id="no-company")  # e.g. a delivery retry
    Job.fetch(held.job_id(3), connection=redis_conn).delete()  # gone from the list
    queues = [FairQueue(REPORTS_QUEUE, connection=redis_conn)]
    ids = []
    while (got := FairQueue.dequeue_any(queues, None, connection=redis_conn)) is not None:
        ids.append(got[0].id)
    assert ids == [held.job_id(1), held.job_id(2), "no-company"]


def test_run_now_takes_its_company_turn(app, redis_conn, make_company):
    a, b = make_company("Big Bank"), make_company("Small Shop")
    runs = [Run(company_id=a.id if i < 20 else b.id, task_id=_task(a if i < 20 else b).id,
                trigger="manual", window_start=NOW, window_end=NOW, status="queued")
            for i in range(21)]
    db.session.add_all(runs)
    db.session.commit()
    for run in runs:
        held.enqueue(run.id, redis_conn)
    order = drain(redis_conn)
    assert order.index(runs[-1].id) == 1


def _task(company):
    data = task_service.validate(company, {
        "name": "T", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:00"},
        "recipients": {"emails": ["ops@shop.example"]}})
    task = task_service.save(company, data, NOW - timedelta(days=1))
    db.session.commit()
    return task


def test_the_worker_runs_the_small_company_early(app, redis_conn, make_company, work):
    """All due at one instant through the dispatcher; a real (burst) worker runs them."""
    big, small = make_company("Big Bank"), make_company("Small Shop")
    for _ in range(12):
        _task(big)
    mine = _task(small)
    instant = db.session.scalar(sa.select(Task.next_run_at).where(Task.id == mine.id))
    dispatcher.dispatch(instant, redis_conn, ahead=timedelta(0))
    assert work()
    started = db.session.scalars(sa.select(Run).order_by(Run.started_at, Run.id)).all()
    assert len(started) == 13
    assert [r.task_id for r in started].index(mine.id) <= 1
    assert fair.ring_key(Queue(REPORTS_QUEUE, connection=redis_conn).key) not in [
        k.decode() for k in redis_conn.keys()]
