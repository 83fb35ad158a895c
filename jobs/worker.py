"""The RQ worker entry: ``python -m jobs.worker`` (the Procfile's ``worker``, run by ``serve``).

The worker keeps one app context pushed for its whole life, so jobs can use the app's config
and database session; the forked work horse inherits it.
"""

from __future__ import annotations

import os
import sys

import redis
from flask import Flask
from rq import Queue, SimpleWorker, Worker

from . import metrics
from .queue import QUEUE_NAMES, connect

WORKER_TTL = 45  # seconds


def queues(conn: redis.Redis, names: tuple[str, ...] | list[str] = QUEUE_NAMES) -> list[Queue]:
    """Herald's queues (all of them, in priority order, unless named), bound to ``conn``."""
    unknown = [n for n in names if n not in QUEUE_NAMES]
    if unknown:
        raise SystemExit(f"Unknown queue {', '.join(unknown)}: Herald's queues are "
                         f"{', '.join(QUEUE_NAMES)}.")
    return [Queue(name, connection=conn) for name in names]


def redis_url(app: Flask, role: str = "worker") -> str:
    """``REDIS_URL``, or exit with a message saying what to set."""
    url = app.config.get("REDIS_URL")
    if not url:
        raise SystemExit(
            f"REDIS_URL is not set: the {role} needs the Redis that holds the queues. Set "
            "REDIS_URL (e.g. redis://127.0.0.1:6379/0), or run everything with "
            "`flask --app app serve`, which starts an embedded Redis, workers and scheduler."
        )
    return url


def work_burst(app: Flask, conn: redis.Redis) -> bool:
    """Run every queued job in this process, then return; True if any job ran (for tests)."""
    with app.app_context():
        worker = SimpleWorker(queues(conn), connection=conn)
        return worker.work(burst=True, logging_level="WARNING")


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.worker [QUEUE ...]``: a worker on the named queues (default: all)."""
    from webapp import create_app

    names = (sys.argv[1:] if argv is None else argv) or list(QUEUE_NAMES)
    app = create_app()
    conn = connect(redis_url(app))
    with app.app_context():
        from webapp.extensions import db

        # Each job runs in a forked work horse: it must not share the parent's pooled
        # database connections (PostgreSQL would see two processes on one socket).
        engine = db.engine
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
        metrics.share_file_with_forked_jobs()
        # An idle worker beats every WORKER_TTL - 15 s, so /readyz sees it within a minute.
        worker = Worker(queues(conn, names), connection=conn, worker_ttl=WORKER_TTL)
        # with_scheduler: RQ's own scheduler moves jobs waiting for a retry back to their queue.
        worker.work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
