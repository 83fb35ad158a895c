"""Scheduled runs' jobs, held in Redis until their instant and then released onto the
queue in one step; jobs made again for runs whose job was lost.

A prepared run's RQ job is made ahead of its instant and **held**: saved with status
"scheduled" and kept in a sorted set (``HELD``) scored by the instant. At the instant,
:func:`release_held` moves every held job that is due onto the queue in one Lua script — a few
milliseconds for thousands of runs, which keeps the enqueue lag low when many tasks share an
instant. The script writes the fields RQ's own enqueue writes (``status``, ``enqueued_at``,
the queue list and the set of queues): tests/jobs/test_rq_contract.py checks them against
the RQ version installed. Every job is marked with its company and, once queued, takes its
company's turn (jobs/fair.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.utils import now as rq_now
from rq.utils import utcformat

from webapp.extensions import db
from webapp.models import Run, Task

from . import fair
from .queue import REPORTS_QUEUE, connection, get_queue
from .runner import run_report

REQUEUE_GRACE = timedelta(seconds=5)  # a run just committed is being enqueued by its creator
DEAD_JOB = {JobStatus.FAILED.value, JobStatus.STOPPED.value, JobStatus.CANCELED.value,
            JobStatus.FINISHED.value}
HELD = f"herald:held:{REPORTS_QUEUE}"  # job id → its run's instant (Unix time)
JOB_TIMEOUT, RESULT_TTL = 3600, 3600

# Atomically: take the held jobs due by ARGV[1] and put those still waiting (status
# "scheduled": not deleted, not already queued) on the queue, as RQ's enqueue would.
# KEYS: the held set, the queue's list, RQ's set of queues, the fair ring (jobs/fair.py);
# ARGV: the time, enqueued_at, the job key prefix, the fair company lists' prefix. The jobs
# released take their companies' turns.
_RELEASE = fair.ADD_LUA + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #ids == 0 then return ids end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local ready = {}
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  if redis.call('HGET', key, 'status') == 'scheduled' then
    redis.call('HSET', key, 'status', 'queued', 'enqueued_at', ARGV[2])
    ready[#ready + 1] = id
  end
end
for i = 1, #ready, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ready, i, math.min(i + 999, #ready)))
end
if #ready > 0 then redis.call('SADD', KEYS[3], KEYS[2]) end
for _, id in ipairs(ready) do fair_add(KEYS[4], ARGV[4], ARGV[3], id) end
return ready
"""


def job_id(run_id: int) -> str:
    return f"herald-run-{run_id}"


def run_id_of(job: str | bytes) -> int:
    return int((job.decode() if isinstance(job, bytes) else job).rsplit("-", 1)[1])


def _job(queue: Queue, run_id: int, status: JobStatus | None = None) -> Job:
    return queue.create_job(run_report, args=(run_id,), job_id=job_id(run_id),
                            timeout=JOB_TIMEOUT, result_ttl=RESULT_TTL, status=status)


def hold(runs: Iterable[tuple[int, datetime | None, int]], conn) -> None:
    """Make the runs' jobs (run id, instant, company id) and hold them until their instant
    (None: due now); release() enqueues them."""
    runs = list(runs)
    if not runs:
        return
    queue = get_queue(REPORTS_QUEUE, conn)
    with conn.pipeline() as pipe:
        for run_id, instant, company_id in runs:
            job = _job(queue, run_id, JobStatus.SCHEDULED)
            job.save(pipeline=pipe)
            fair.mark(pipe, job.key, company_id)
            pipe.zadd(HELD, {job.id: instant.timestamp() if instant else 0})
        pipe.execute()


def release_held(now: datetime, conn) -> list[int]:
    """Enqueue every held job whose instant is ``now`` or earlier; return their run ids."""
    queue = get_queue(REPORTS_QUEUE, conn)
    script = conn.register_script(_RELEASE)
    released = script(keys=[HELD, queue.key, Queue.redis_queues_keys,
                            fair.ring_key(queue.key)],
                      args=[now.timestamp(), utcformat(rq_now()),
                            Job.redis_job_namespace_prefix, fair.company_prefix(queue.key)])
    return [run_id_of(job) for job in released]


def next_instant(now: datetime, conn) -> datetime | None:
    """When the dispatcher has something to do next: the earliest held job, or the earliest
    task due after ``now`` that is not prepared yet (one made since the last preparation)."""
    held = conn.zrange(HELD, 0, 0, withscores=True)
    unprepared = db.session.scalar(sa.select(sa.func.min(Task.next_run_at)).where(
        Task.active.is_(True), Task.prepared_following_at.is_(None), Task.next_run_at > now))
    candidates = [datetime.fromtimestamp(score, UTC) for _, score in held]
    return min(candidates + ([unprepared] if unprepared else []), default=None)


def enqueue(run_id: int, conn=None) -> None:
    enqueue_many([run_id], conn)


def enqueue_many(run_ids: list[int], conn=None) -> None:
    """Enqueue now (run now, retries of dead runs), each in its company's turn."""
    if not run_ids:
        return
    queue = get_queue(REPORTS_QUEUE, conn)
    companies = dict(db.session.execute(
        sa.select(Run.id, Run.company_id).where(Run.id.in_(run_ids))).all())
    with queue.connection.pipeline() as pipe:
        for run_id in run_ids:
            if run_id in companies:
                fair.mark(pipe, Job.key_for(job_id(run_id)), companies[run_id])
        queue.enqueue_many([
            queue.prepare_data(run_report, args=(run_id,), job_id=job_id(run_id),
                               timeout=JOB_TIMEOUT, result_ttl=RESULT_TTL)
            for run_id in run_ids], pipeline=pipe)
        pipe.execute()
    fair.add(queue.connection, queue.key, [job_id(run_id) for run_id in run_ids])


def requeue_lost(now: datetime, conn=None, grace: timedelta = REQUEUE_GRACE) -> list[int]:
    """Queued runs whose job is gone from Redis (flushed, restarted), no longer held, or
    ended without starting the run (its worker died first) get their job again: held until
    their instant if it is still to come, else enqueued."""
    conn = conn or connection()
    queued = db.session.execute(sa.select(Run.id, Run.scheduled_for, Run.company_id).where(
        Run.status == "queued", Run.created_at <= now - grace).order_by(Run.id)).all()
    if not queued:
        return []
    with conn.pipeline(transaction=False) as pipe:
        for run_id, _, _ in queued:
            pipe.hget(Job.key_for(job_id(run_id)), "status")
            pipe.zscore(HELD, job_id(run_id))
        replies = pipe.execute()
    lost, dead = [], []
    for (run_id, instant, company_id), status, held in zip(queued, replies[::2], replies[1::2],
                                               strict=True):
        status = status and status.decode()
        if status == JobStatus.SCHEDULED.value and held is not None:
            continue  # waiting for its instant
        if status not in (None, JobStatus.SCHEDULED.value, *DEAD_JOB):
            continue  # queued, started…
        if status is not None:
            dead.append(run_id)
        lost.append((run_id, instant, company_id))
    if not lost:
        return []
    for run_id in dead:
        Job.fetch(job_id(run_id), connection=conn).delete()
    hold(lost, conn)
    release_held(now, conn)
    return [run_id for run_id, _, _ in lost]
