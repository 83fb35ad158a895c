"""jobs/held.py's release script writes RQ's job and queue fields itself (RQ has no API that
queues thousands of prepared jobs in one step). These tests hold it to what RQ's own enqueue
writes, on the RQ version installed: a new RQ that changes its storage fails here first."""

from __future__ import annotations

from datetime import UTC, datetime

from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus

from jobs import fair, held
from jobs.queue import REPORTS_QUEUE


def _fields(conn, job_id: str) -> dict[str, str]:
    return {k.decode(): v.decode(errors="replace")
            for k, v in conn.hgetall(Job.key_for(job_id)).items()}


def test_a_released_job_is_stored_as_rq_stores_an_enqueued_one(app, redis_conn):
    queue = Queue(REPORTS_QUEUE, connection=redis_conn)
    queue.enqueue("os.getpid", job_id="by-rq", job_timeout=held.JOB_TIMEOUT,
                  result_ttl=held.RESULT_TTL)
    held.hold([(4242, datetime(2030, 1, 1, tzinfo=UTC), 1)], redis_conn)
    assert held.release_held(datetime(2030, 1, 1, tzinfo=UTC), redis_conn) == [4242]

    ours, theirs = _fields(redis_conn, held.job_id(4242)), _fields(redis_conn, "by-rq")
    assert ours["status"] == theirs["status"] == JobStatus.QUEUED.value
    # the same fields, written in the same formats
    assert set(theirs) - set(ours) <= {"description"}, set(theirs) - set(ours)
    assert set(ours) - set(theirs) <= {fair.COMPANY_FIELD}, set(ours) - set(theirs)
    assert len(ours["enqueued_at"]) == len(theirs["enqueued_at"])
    assert queue.job_ids == ["by-rq", held.job_id(4242)]
    assert queue.key.encode() in redis_conn.smembers(Queue.redis_queues_keys)
    job = Job.fetch(held.job_id(4242), connection=redis_conn)
    assert job.get_status() == JobStatus.QUEUED and job.enqueued_at is not None
    assert job.origin == REPORTS_QUEUE and job.timeout == held.JOB_TIMEOUT


def test_a_worker_runs_a_released_job(app, redis_conn):
    """The job runs in a real RQ worker and finds no run (none was made): it returns."""
    held.hold([(4243, None, 1)], redis_conn)
    held.release_held(datetime.now(UTC), redis_conn)
    worker = SimpleWorker([Queue(REPORTS_QUEUE, connection=redis_conn)],
                          connection=redis_conn)
    assert worker.work(burst=True)
    job = Job.fetch(held.job_id(4243), connection=redis_conn)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == "cancelled"
