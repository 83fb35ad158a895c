"""Dispatcher benchmark (run by hand): ``.venv/bin/python bench/dispatch.py [DATABASE_URL]``.

1. 100 companies × 100 activated tasks (10,000), 100, 1,000 and then all of them due at the
   same instant, with the dispatcher ticking as in production (``run_tick`` every
   DISPATCH_INTERVAL, prepared DISPATCH_AHEAD before the instant, real clock): enqueue lag =
   when RQ recorded the job as queued − the run's scheduled instant; p50/p99 against the
   2 s goal, and how long preparing took.
2. The cost of a dispatcher tick with 1,000 vs 10,000 tasks and the same 100 due: it must
   grow with the due tasks, not with all tasks.

The database is wiped first: give it a scratch database (default: a temporary SQLite file).
Redis is an embedded server on a free port.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from cryptography.fernet import Fernet
from rq import Queue
from rq.job import Job

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jobs import dispatch as dispatcher  # noqa: E402
from jobs import held, tick  # noqa: E402
from jobs import schedule as sched  # noqa: E402
from jobs.embedded_redis import EmbeddedRedis  # noqa: E402
from jobs.queue import REPORTS_QUEUE, connect  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import Company, Run, Task  # noqa: E402

COMPANIES, PER_COMPANY, DUE = 100, 100, 100
GOAL_P99 = 2.0  # seconds after the scheduled instant (issue 3)
SCHEDULES = [  # all have an instant at 06:00 UTC on Monday 1 June 2026
    {"kind": "daily", "time": "06:00", "timezone": "UTC"},
    {"kind": "daily", "time": "07:00", "timezone": "Europe/London"},
    {"kind": "daily", "time": "02:00", "timezone": "America/New_York"},
    {"kind": "hourly", "every": 1, "time": "00:00", "timezone": "Asia/Tokyo"},
    {"kind": "hourly", "every": 3, "time": "00:00", "timezone": "UTC"},
    {"kind": "hourly", "every": 6, "time": "01:00", "timezone": "Europe/London"},
    {"kind": "weekly", "weekday": "mon", "time": "06:00", "timezone": "UTC"},
    {"kind": "monthly", "every": 1, "day": 1, "time": "11:30", "timezone": "Asia/Kolkata"},
]


def make_app(url: str, redis_url: str, reports: str):
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url,
                       "REPORTS_DIR": reports, "SECRET_KEY": "bench",
                       "HERALD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                       "DISPATCH_INTERVAL": 1, "DISPATCH_AHEAD": 60})


def populate(companies: int, series_start: datetime, first: datetime) -> None:
    """``companies`` × 100 activated tasks whose next run is ``first``."""
    db.session.remove()  # no transaction of ours may hold a table DROP waits for
    db.drop_all()
    db.create_all()
    db.session.execute(sa.insert(Company), [
        {"name": f"Company {c}", "slug": f"company-{c}", "timezone": "UTC"}
        for c in range(companies)])
    ids = db.session.scalars(sa.select(Company.id).order_by(Company.id)).all()
    rows = []
    for c, company_id in enumerate(ids):
        for t in range(PER_COMPANY):
            schedule = sched.parse(SCHEDULES[(c + t) % len(SCHEDULES)], "UTC")
            rows.append({
                "company_id": company_id, "name": f"task {t}", "report_type": "usage_by_rooms",
                "channels": ["whatsapp"], "schedule_kind": schedule.kind,
                "schedule_time": schedule.time.strftime("%H:%M"),
                "schedule_every": schedule.every, "schedule_weekday": schedule.weekday,
                "schedule_day": schedule.day, "timezone": schedule.timezone, "options": {},
                "active": True, "status": "scheduled", "series_start": series_start,
                "next_run_at": first})
    for i in range(0, len(rows), 2000):
        db.session.execute(sa.insert(Task), rows[i:i + 2000])
    db.session.commit()
    if db.engine.dialect.name == "postgresql":  # planner statistics, as a live database has
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                sa.text("ANALYZE tasks"))


def enqueue_lag(app, conn, due_count: int, lead: float | None = None
                ) -> tuple[list[float], float, float, float]:
    """``due_count`` of the 10,000 tasks due at one instant (the others later), ``lead``
    seconds from now: by default a little more than DISPATCH_AHEAD, so that they are prepared
    as in production; a second is a dispatcher (re)started just before a busy instant.
    The dispatcher ticks as in production. Returns the lags, when the queue held them all
    (after the instant), how long preparing took and how long before the instant it was
    done."""
    populate(COMPANIES, datetime(2026, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
    ids = db.session.scalars(sa.select(Task.id).order_by(Task.id)).all()
    spread = ids[::len(ids) // due_count][:due_count]
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(
        seconds=app.config["DISPATCH_AHEAD"] + 5 if lead is None else lead)
    db.session.execute(sa.update(Task).where(Task.id.in_(spread)).values(next_run_at=due))
    db.session.commit()
    stop = threading.Event()

    def scheduler():  # like rq-scheduler: a tick every interval, started after the last
        with app.app_context():
            while not stop.is_set():
                started = time.monotonic()
                tick.run_tick()
                db.session.remove()
                stop.wait(max(0.0, app.config["DISPATCH_INTERVAL"] -
                              (time.monotonic() - started)) + 0.3)  # + poll jitter

    thread = threading.Thread(target=scheduler)
    thread.start()
    total = due_count
    queue = Queue(REPORTS_QUEUE, connection=conn)
    deadline = time.monotonic() + app.config["DISPATCH_AHEAD"] + 120
    # RQ's enqueued_at is stamped before the jobs are pushed (by RQ's enqueue as by our
    # release); watching the queue's length tells when the last job could really be taken.
    while queue.count < total:
        if time.monotonic() > deadline:
            raise SystemExit("the dispatcher did not enqueue every run in time")
        time.sleep(0.2 if datetime.now(UTC) < due - timedelta(seconds=1) else 0.002)
    all_queued = (datetime.now(UTC) - due).total_seconds()
    stop.set()
    thread.join()
    db.session.rollback()
    runs = db.session.execute(sa.select(Run.id, Run.scheduled_for)).all()
    first, last = db.session.execute(
        sa.select(sa.func.min(Run.created_at), sa.func.max(Run.created_at))).one()
    with conn.pipeline(transaction=False) as pipe:
        for run_id, _ in runs:
            pipe.hget(Job.key_for(held.job_id(run_id)), "enqueued_at")
        stamps = pipe.execute()
    lags = []
    for (_, scheduled_for), stamp in zip(runs, stamps, strict=True):
        enqueued = datetime.fromisoformat(stamp.decode().replace("Z", "+00:00"))
        if enqueued.tzinfo is None:
            enqueued = enqueued.replace(tzinfo=UTC)
        lags.append((enqueued - scheduled_for).total_seconds())
    assert len(runs) == total and queue.count == total
    return lags, all_queued, (last - first).total_seconds(), (due - last).total_seconds()


def tick_cost(companies: int, conn, rounds: int = 5) -> tuple[float, float]:
    """Median ms of dispatch() with DUE tasks due among companies × 100, and of an idle tick."""
    far = datetime(2030, 1, 1, tzinfo=UTC)
    populate(companies, datetime(2026, 1, 1, tzinfo=UTC), far)
    ids = db.session.scalars(sa.select(Task.id).order_by(Task.id)).all()
    busy, idle = [], []
    now = datetime(2026, 6, 1, 6, 0, 30, tzinfo=UTC)
    for r in range(rounds):
        chosen = ids[r * DUE:(r + 1) * DUE]
        db.session.execute(sa.update(Task).values(next_run_at=far))
        db.session.execute(sa.update(Task).where(Task.id.in_(chosen)).values(
            next_run_at=datetime(2026, 6, 1, 6, tzinfo=UTC) + timedelta(days=r),
            watermark=None))
        db.session.commit()
        conn.flushdb()
        started = time.perf_counter()
        created = dispatcher.dispatch(now + timedelta(days=r), conn)
        busy.append((time.perf_counter() - started) * 1000)
        assert len(created) == DUE, len(created)
        started = time.perf_counter()
        assert dispatcher.dispatch(now + timedelta(days=r), conn) == []
        idle.append((time.perf_counter() - started) * 1000)
        db.session.execute(sa.delete(Run))
        db.session.commit()
    return statistics.median(busy), statistics.median(idle)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/bench.db"
        with EmbeddedRedis(os.path.join(tmp, "redis")) as redis_server:
            conn = connect(redis_server.url)
            app = make_app(url, redis_server.url, os.path.join(tmp, "reports"))
            with app.app_context():
                backend = db.engine.dialect.name
                everything = COMPANIES * PER_COMPANY
                for due_count, lead in ((100, None), (1000, None), (everything, None),
                                        (everything, 1)):
                    lags, all_queued, preparing, margin = enqueue_lag(app, conn, due_count,
                                                                      lead)
                    p99 = percentile(lags, 99)
                    when = ("prepared ahead" if lead is None else
                            f"cold: dispatcher started {lead:g} s before the instant")
                    print(f"[{backend}] {len(lags)} of {everything} tasks due at one instant, "
                          f"{when}: enqueue lag p50 {percentile(lags, 50) * 1000:.1f} ms, "
                          f"p99 {p99 * 1000:.1f} ms (x{p99 / GOAL_P99:.4f} of the "
                          f"{GOAL_P99:g} s goal), max {max(lags) * 1000:.1f} ms; all seen in "
                          f"the queue at {all_queued * 1000:+.1f} ms; prepared in "
                          f"{preparing:.2f} s, done {margin:.1f} s before the instant",
                          flush=True)
                    conn.flushdb()
                small = tick_cost(10, conn)
                large = tick_cost(COMPANIES, conn)
                print(f"[{backend}] dispatcher tick with {DUE} due: {small[0]:.1f} ms among "
                      f"1,000 tasks, {large[0]:.1f} ms among 10,000 (x{large[0] / small[0]:.2f});"
                      f" nothing due: {small[1]:.2f} ms vs {large[1]:.2f} ms "
                      f"(x{large[1] / small[1]:.2f})")
                db.drop_all()
                db.session.remove()
                db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
