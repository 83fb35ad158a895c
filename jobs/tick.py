"""The dispatcher tick: the one periodic job registered with rq-scheduler (jobs/scheduler.py).

Each tick releases and prepares runs (jobs/dispatch.py, jobs/held.py), reaps dead runs and
recovers deliveries (jobs/reaper.py), gives lost jobs back, keeps house (retention and
alerts, jobs/housekeeping.py; old audit events and dead logins, jobs/retention.py), queues
the account mail held while Redis refused it (jobs/account_mail.py), then stays for the
rest of its interval to release each run at its instant.
"""

from __future__ import annotations

import logging
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import current_app

from webapp.extensions import db

from .account_mail import release_held
from .dispatch import dispatch
from .held import next_instant, requeue_lost
from .housekeeping import housekeep
from .queue import connection
from .reaper import reap, retry_deliveries
from .retention import prune_audit, prune_logins

log = logging.getLogger(__name__)
SCHEDULER_POLL = 1  # seconds: jobs.scheduler.MAX_POLL_INTERVAL


def run_tick(now: Callable[[], datetime] | None = None,
             sleep: Callable[[float], None] = clock.sleep) -> None:
    """The periodic job registered with rq-scheduler; runs inside the worker's app context.

    It releases and prepares runs, reaps dead runs and re-enqueues lost jobs, then stays for
    the rest of its interval to release each run at its instant (the scheduler starts a tick
    only every interval or so: waiting for the next one would add up to that to the lag).
    """
    now = now or (lambda: datetime.now(UTC))
    config = current_app.config
    conn = connection()
    started = now()
    released = dispatch(started, conn)
    retried = reap(started, timedelta(seconds=config["RUN_HEARTBEAT_TIMEOUT"]), conn)
    requeued = requeue_lost(started, conn)
    retry_deliveries(started, conn)
    housekeep(started, conn)
    prune_audit(started, config["AUDIT_RETENTION_DAYS"], conn)
    prune_logins(started, config["SESSION_MAX_HOURS"], conn)
    release_held(conn)  # account mail that Redis refused at its commit
    # Until the next tick can have started: its interval plus the scheduler's poll, so that
    # consecutive ticks leave no gap (an overlap is harmless: runs are made once).
    horizon = started + timedelta(seconds=config["DISPATCH_INTERVAL"] + SCHEDULER_POLL)
    while (upcoming := next_instant(now(), conn)) is not None and upcoming <= horizon:
        db.session.commit()  # end the read transaction before waiting
        sleep(max(0.0, (upcoming - now()).total_seconds()))
        released += dispatch(now(), conn)
    db.session.commit()
    if released or retried or requeued:
        log.info("released %d run(s), retried %d dead run(s), re-enqueued %d lost job(s)",
                 len(released), len(retried), len(requeued))
