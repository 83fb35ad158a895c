"""What operators ask of a running Herald: is it ready (database, Redis, a live worker), and
its Prometheus metrics (counted by the jobs, jobs/metrics.py; queue depths read at scrape)."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

import redis
import sqlalchemy as sa
from flask import current_app
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from rq import Queue, Worker

from jobs import metrics
from jobs.held import HELD
from jobs.queue import QUEUE_NAMES

from ..extensions import db

WORKER_SILENCE = timedelta(seconds=60)  # a worker heard from longer ago is not counted
TIMEOUT = 2  # seconds for each readiness probe


def readiness(now: datetime | None = None) -> dict[str, str]:
    """What is missing, by component ({} when ready): the database, Redis, and a worker
    whose heartbeat is younger than WORKER_SILENCE."""
    now = now or datetime.now(UTC)
    missing = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        missing["database"] = f"unreachable: {type(exc).__name__}"
    url = current_app.config.get("REDIS_URL")
    if not url:
        missing["redis"] = "REDIS_URL is not set"
        return missing
    conn = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
    try:
        beats = [w.last_heartbeat for w in Worker.all(connection=conn) if w.last_heartbeat]
    except redis.RedisError as exc:
        missing["redis"] = f"unreachable: {type(exc).__name__}: {exc}"
        return missing
    finally:
        conn.close()
    latest = max(beats, default=None)
    if latest is None:
        missing["worker"] = "no worker is registered"
    elif now - latest.replace(tzinfo=latest.tzinfo or UTC) > WORKER_SILENCE:
        missing["worker"] = (f"no worker heartbeat within {WORKER_SILENCE.seconds} s "
                             f"(the latest: {latest:%Y-%m-%d %H:%M:%S} UTC)")
    return missing


def metrics_allowed(authorization: str | None) -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())


class _QueueDepth:
    """herald_queue_depth{queue}: jobs waiting on each queue, and runs held for their instant."""

    def __init__(self, conn: redis.Redis):
        self.conn = conn

    def collect(self):
        family = GaugeMetricFamily("herald_queue_depth", "Jobs waiting: on each RQ queue, "
                                   "and scheduled runs held until their instant (held)",
                                   labels=["queue"])
        try:
            for name in QUEUE_NAMES:
                family.add_metric([name], Queue(name, connection=self.conn).count)
            family.add_metric(["held"], self.conn.zcard(HELD))
        except redis.RedisError:
            return  # no Redis: no depth (readiness says why)
        yield family


def render() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    metrics.metrics()  # every family is exposed, even before its first sample
    queues = CollectorRegistry()
    conn = None
    if current_app.config.get("REDIS_URL"):
        conn = redis.Redis.from_url(current_app.config["REDIS_URL"],
                                    socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
        queues.register(_QueueDepth(conn))
    try:
        if current_app.config.get("PROMETHEUS_MULTIPROC_DIR"):
            counted = CollectorRegistry()
            MultiProcessCollector(counted, current_app.config["PROMETHEUS_MULTIPROC_DIR"])
        else:
            counted = REGISTRY
        return generate_latest(counted) + generate_latest(queues), CONTENT_TYPE_LATEST
    finally:
        if conn is not None:
            conn.close()
