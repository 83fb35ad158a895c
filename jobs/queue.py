"""The Redis connection and Herald's queues, always passed explicitly."""

from __future__ import annotations

import redis
from flask import Flask, current_app
from rq import Queue

REPORTS_QUEUE = "reports"
SYSTEM_QUEUE = "system"
QUEUE_NAMES = (SYSTEM_QUEUE, REPORTS_QUEUE)  # a worker listens in this order
PERIODIC_JOB_PREFIX = "herald-periodic-"  # the ids of Herald's own periodic jobs


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def connection() -> redis.Redis:
    """The Redis of the current app; ``REDIS_URL`` is set by ``serve`` when it embeds Redis."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        raise RuntimeError(
            "REDIS_URL is not set: run Herald with `flask --app app serve` (which starts an "
            "embedded Redis) or set REDIS_URL to a Redis server ≥ 6.2."
        )
    conn = current_app.extensions.get("herald_redis")
    if conn is None or current_app.extensions.get("herald_redis_url") != url:
        conn = connect(url)
        current_app.extensions["herald_redis"] = conn
        current_app.extensions["herald_redis_url"] = url
    return conn


def get_queue(name: str = REPORTS_QUEUE, conn: redis.Redis | None = None) -> Queue:
    return Queue(name, connection=conn or connection())


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
