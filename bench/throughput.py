"""End-to-end throughput (run by hand): ``.venv/bin/python bench/throughput.py [--pg URL]``.

``--tasks`` small runs (default 10,000: one task each, over 100 companies, one recipient
each) fall due at one instant and are mailed to an aiosmtpd sink, with 1, 2 and 4 report
workers (``--workers``) as the Procfile runs them (``python -m jobs.worker reports``, plus
the system worker and the scheduler, each an OS process). Figures per worker count: time
from the instant to the last email at the sink, runs/s, p50/p99 per-run latency (instant →
its email at the sink), peak RSS per worker (with its children: RQ's scheduler).

The limit, measured in the same run with the same worker count: RQ's own throughput for a
no-op job (``rq worker --burst``) with Herald's worker class (``HeraldWorker``: RQ's
``SimpleWorker``, no fork per job) and with RQ's forking ``rq.Worker`` (Herald's worker
class before issue 14). Goal (issue 14): Herald's runs/s ≥ 0.5 × the no-op rate of its
worker class; the ratio to the forking no-op rate is printed too. The load average is
printed with every figure: the machine is shared.

The database is wiped first: give it a scratch one (default: a temporary SQLite file).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jobs.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from webapp.processes import PROCESSES  # noqa: E402

COMPANIES = 100
LEAD = 15  # seconds from "workers ready" to the instant (preparation is done ahead)


class Sink:
    """aiosmtpd handler: when each recipient's email arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        now = time.time()
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.arrived.setdefault(rcpt, now)
            self.count += 1
        return "250 OK"


def load() -> str:
    return "load {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg())


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and its children, in MB."""
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        todo.extend(int(c) for c in children)
    return total / 1024


class PeakRss:
    def __init__(self, pids: list[int]) -> None:
        self.pids, self.peak = pids, dict.fromkeys(pids, 0.0)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stop.wait(0.2):
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], tree_rss_mb(pid))

    def done(self) -> list[float]:
        self.stop.set()
        self.thread.join()
        return [self.peak[p] for p in self.pids]


def populate(url: str, tasks: int) -> None:
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Company, Task, TaskRecipient

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": sa_url(url),
                      "SECRET_KEY": "bench", "HERALD_ENCRYPTION_KEY": Fernet.generate_key()
                      .decode()})
    with app.app_context():
        db.session.execute(sa.insert(Company), [
            {"name": f"Company {c}", "slug": f"company-{c}", "timezone": "UTC"}
            for c in range(COMPANIES)])
        companies = db.session.scalars(sa.select(Company.id).order_by(Company.id)).all()
        far = datetime(2030, 1, 1, tzinfo=UTC)
        db.session.execute(sa.insert(Task), [{
            "company_id": companies[t % COMPANIES], "name": f"task {t}",
            "report_type": "usage_by_rooms", "channels": ["whatsapp"], "schedule_kind": "daily",
            "schedule_time": "06:00", "timezone": "UTC", "options": {}, "active": True,
            "status": "scheduled", "series_start": datetime(2026, 1, 1, tzinfo=UTC),
            "next_run_at": far} for t in range(tasks)])
        rows = db.session.execute(sa.select(Task.id, Task.company_id)).all()
        db.session.execute(sa.insert(TaskRecipient), [{
            "task_id": i, "company_id": c, "email": f"r{i}@bench.example",
            "email_key": f"r{i}@bench.example"} for i, c in rows])
        db.session.commit()
        db.engine.dispose()


def sa_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def spawn(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        p.terminate()
    for p in processes:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_for(what: str, check, timeout: float, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)
    return result


def workers_registered(conn: redis.Redis) -> int:
    return conn.scard("rq:workers")


def herald(workers: int, tasks: int, env: dict, engine: sa.Engine, conn: redis.Redis,
           sink: Sink, tmp: Path) -> dict:
    """One end-to-end round: ``workers`` report workers; the figures."""
    with engine.begin() as db:
        db.execute(sa.text("DELETE FROM deliveries"))
        db.execute(sa.text("DELETE FROM runs"))
        db.execute(sa.text("UPDATE tasks SET next_run_at = :far, watermark = NULL, "
                           "prepared_following_at = NULL, status = 'scheduled'"),
                   {"far": datetime(2030, 1, 1)})
    conn.flushall()
    with sink.lock:
        sink.arrived.clear()
        sink.count = 0
    command = {p.name: p for p in PROCESSES}
    log = tmp / f"herald-{workers}.log"
    report_workers = [spawn(command["worker"].argv(), env, log) for _ in range(workers)]
    others = [spawn(command["system"].argv(), env, log),
              spawn(command["scheduler"].argv(), env, log)]
    try:
        wait_for("workers registered", lambda: workers_registered(conn) >= workers + 1, 180)
        instant = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=LEAD)
        with engine.begin() as db:
            db.execute(sa.text("UPDATE tasks SET next_run_at = :t"),
                       {"t": instant.replace(tzinfo=None)})
        rss = PeakRss([p.pid for p in report_workers])
        at_start = load()
        wait_for("every email", lambda: len(sink.arrived) >= tasks,
                 LEAD + 120 + tasks * 10, every=0.5)
        peaks = rss.done()
    finally:
        stop(report_workers + others)
    latencies = sorted(t - instant.timestamp() for t in sink.arrived.values())
    last = latencies[-1]
    return {"seconds": last, "rate": tasks / last, "p50": pct(latencies, 50),
            "p99": pct(latencies, 99), "rss": max(peaks), "emails": sink.count,
            "load": f"{at_start} → {load()}"}


def noop(workers: int, jobs: int, worker_class: str, env: dict, conn: redis.Redis,
         tmp: Path) -> float:
    """RQ's own rate for a no-op job, ``workers`` of ``worker_class`` (``rq worker``), timed
    as Herald's runs are: workers up first, then every job at once, until the last is done."""
    from rq import Queue

    conn.flushall()
    queue = Queue("noop", connection=conn)
    rq = str(Path(sys.executable).with_name("rq"))
    argv = [rq, "worker", "-w", worker_class, "--url", env["REDIS_URL"],
            "--logging_level", "WARNING", "noop"]
    processes = [spawn(argv, env, tmp / "noop.log") for _ in range(workers)]
    try:
        wait_for("no-op workers registered", lambda: workers_registered(conn) >= workers, 180)
        started = time.monotonic()
        with conn.pipeline() as pipe:
            queue.enqueue_many([Queue.prepare_data("builtins.len", args=("",), result_ttl=600)
                                for _ in range(jobs)], pipeline=pipe)
            pipe.execute()
        wait_for("every no-op job", lambda: queue.finished_job_registry.count >= jobs,
                 60 + jobs, every=0.05)
        return jobs / (time.monotonic() - started)
    finally:
        stop(processes)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", help="a scratch PostgreSQL database (wiped)")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = args.pg or f"sqlite:///{tmp / 'bench.db'}"
        sink = Sink()
        smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
        smtp.start()
        with EmbeddedRedis(tmp / "redis") as redis_server:
            env = {k: v for k, v in os.environ.items()
                   if k not in {"FLASK_DEBUG", "FLASK_APP", "PROMETHEUS_MULTIPROC_DIR"}}
            env.update(DATABASE_URL=url, REDIS_URL=redis_server.url, PYTHONUNBUFFERED="1",
                       SECRET_KEY=secrets.token_urlsafe(32), LOG_LEVEL="WARNING",
                       HERALD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
                       REPORTS_DIR=str(tmp / "reports"), MAIL_FROM="bench@herald.example",
                       SMTP_URL=f"smtp://127.0.0.1:{smtp.port}", BASE_URL="http://bench")
            if args.pg:
                with sa.create_engine(sa_url(args.pg)).begin() as db:
                    db.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
                           cwd=ROOT, env=env, check=True, capture_output=True)
            populate(url, args.tasks)
            engine = sa.create_engine(sa_url(url))
            conn = redis.Redis.from_url(redis_server.url)
            backend = engine.dialect.name
            print(f"[{backend}] {args.tasks} tasks over {COMPANIES} companies due at one "
                  f"instant, one email each; {os.cpu_count()} cores, {load()}", flush=True)
            for workers in counts:
                own = noop(workers, args.tasks, "jobs.worker.HeraldWorker", env, conn, tmp)
                fork = noop(workers, args.tasks, "rq.worker.Worker", env, conn, tmp)
                r = herald(workers, args.tasks, env, engine, conn, sink, tmp)
                print(f"[{backend}] {workers} worker(s): last email {r['seconds']:.1f} s after "
                      f"the instant, {r['rate']:.1f} runs/s, latency p50 {r['p50']:.1f} s p99 "
                      f"{r['p99']:.1f} s, peak RSS per worker "
                      f"{r['rss']:.0f} MB, "
                      f"{r['emails']} emails; no-op RQ: {own:.1f} jobs/s (Herald's worker "
                      f"class), {fork:.1f} jobs/s (forking rq.Worker); ratio "
                      f"{r['rate'] / own:.2f}× (goal ≥ 0.5), {r['rate'] / fork:.2f}× the "
                      f"forking no-op rate; {r['load']}", flush=True)
            engine.dispose()
        smtp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
