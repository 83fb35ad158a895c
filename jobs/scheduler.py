"""Herald's own periodic jobs in rq-scheduler: ``python -m jobs.scheduler``.

Users' schedules are rows in the database; rq-scheduler only holds the fixed jobs defined here
(the dispatcher tick). Registration is idempotent: a job's id is derived from its definition,
so a restart finds it already scheduled, and Herald jobs whose definition changed are cancelled.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq_scheduler import Scheduler

from .queue import PERIODIC_JOB_PREFIX, SYSTEM_QUEUE, connect, redis_url

log = logging.getLogger("jobs.scheduler")  # not __main__ under python -m

JOB_ID_PREFIX = PERIODIC_JOB_PREFIX
MAX_POLL_INTERVAL = 1  # seconds between two looks at the schedule (jobs.tick.SCHEDULER_POLL)


@dataclass(frozen=True)
class PeriodicJob:
    """One fixed job run every ``interval`` seconds (scheduled with ``interval=``, never cron)."""

    func: str
    queue: str
    interval: int
    timeout: int

    @property
    def job_id(self) -> str:
        digest = hashlib.sha256(
            f"{self.func}|{self.queue}|{self.interval}|{self.timeout}".encode()
        ).hexdigest()
        return JOB_ID_PREFIX + digest[:16]


def periodic_jobs(dispatch_interval: int) -> tuple[PeriodicJob, ...]:
    """The definitions: every Herald periodic job, given the configured dispatcher interval."""
    return (
        PeriodicJob(
            func="jobs.tick.run_tick",
            queue=SYSTEM_QUEUE,
            interval=dispatch_interval,
            timeout=max(60, 5 * dispatch_interval),
        ),
    )


def register_periodic_jobs(conn: redis.Redis, interval: int) -> list[str]:
    """Schedule the definitions unless already scheduled; cancel stale Herald jobs. Returns ids."""
    if interval < 1:
        raise ValueError(f"DISPATCH_INTERVAL must be at least 1 second, not {interval}.")
    scheduler = Scheduler(queue_name=SYSTEM_QUEUE, connection=conn)
    wanted = periodic_jobs(interval)
    wanted_ids = {job.job_id for job in wanted}
    for stale_id in _scheduled_herald_ids(conn) - wanted_ids:
        _cancel(conn, stale_id)
        log.info("Cancelled stale periodic job %s", stale_id)
    for definition in wanted:
        if _is_scheduled(conn, definition.job_id):
            continue
        scheduler.schedule(
            scheduled_time=datetime.now(UTC),
            func=definition.func,
            interval=definition.interval,
            timeout=definition.timeout,
            id=definition.job_id,
            description=f"{definition.func} every {definition.interval} s",
            queue_name=definition.queue,
        )
        log.info("Scheduled %s every %d s as %s", definition.func, definition.interval,
                 definition.job_id)
    return [job.job_id for job in wanted]


def _scheduled_herald_ids(conn: redis.Redis) -> set[str]:
    ids = (raw.decode() for raw in conn.zrange(Scheduler.scheduled_jobs_key, 0, -1))
    return {job_id for job_id in ids if job_id.startswith(JOB_ID_PREFIX)}


def _is_scheduled(conn: redis.Redis, job_id: str) -> bool:
    in_schedule = conn.zscore(Scheduler.scheduled_jobs_key, job_id) is not None
    return in_schedule and bool(conn.exists(Job.key_for(job_id)))


def _cancel(conn: redis.Redis, job_id: str) -> None:
    # Scheduler.cancel(job_id) reads job.origin from a str in 0.14; do its two steps directly.
    conn.zrem(Scheduler.scheduled_jobs_key, job_id)
    try:
        Job.fetch(job_id, connection=conn).delete()
    except NoSuchJobError:
        pass


def poll_interval(dispatch_interval: int) -> int:
    return max(1, min(MAX_POLL_INTERVAL, dispatch_interval))


class HeraldScheduler(Scheduler):
    """rq-scheduler that makes sure Herald's periodic jobs are registered on every loop, so
    a Redis that was flushed or restarted without its data gets them back within one poll."""

    def __init__(self, *args, dispatch_interval: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.dispatch_interval = dispatch_interval

    def enqueue_jobs(self):
        register_periodic_jobs(self.connection, self.dispatch_interval)
        return super().enqueue_jobs()


def run_forever(make: Callable[[], HeraldScheduler], sleep: Callable[[float], None] = time.sleep,
                most: float = 30.0) -> None:
    """Run a scheduler; when Redis goes away (restarted, failed over) wait and start a new
    one, rather than exit: rq-scheduler's loop ends on a connection error."""
    wait = 1.0
    while True:
        try:
            make().run()
            return
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.error("Redis is unreachable (%s); the scheduler starts again in %g s", exc, wait)
            sleep(wait)
            wait = min(most, wait * 2)


def main() -> int:
    from webapp import create_app, logs

    app = create_app()
    logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    conn = connect(redis_url(app, role="scheduler"))
    interval = int(app.config["DISPATCH_INTERVAL"])
    if interval < 1:
        raise ValueError(f"DISPATCH_INTERVAL must be at least 1 second, not {interval}.")
    # Registered by the scheduler's every loop (HeraldScheduler.enqueue_jobs).
    run_forever(lambda: HeraldScheduler(queue_name=SYSTEM_QUEUE, connection=conn,
                                        interval=poll_interval(interval),
                                        dispatch_interval=interval))
    return 0


if __name__ == "__main__":
    sys.exit(main())
