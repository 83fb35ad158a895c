"""CPU per report run, in one process (run by hand): ``.venv/bin/python bench/run_cpu.py``.

The throughput benchmark (throughput.py) times whole processes on a shared machine; this
one measures what a run costs the worker itself, which the machine's load does not change:
``--runs`` small runs (as throughput.py makes them: one task each over 100 companies, one
email recipient each, mailed to an aiosmtpd sink in another process) prepared and released
by the dispatcher, then run by Herald's worker class (``HeraldWorker``) in burst mode in this
process. Printed: CPU time (``time.process_time``: every thread of this process, the runs'
heartbeats too) and wall time per run, and the same for as many no-op jobs
(``builtins.len``) run by the same worker class: the reference of throughput.py's goal,
here free of the load. ``--profile FILE`` writes a cProfile of the runs (read it with
``python -m pstats FILE``); ``--top N`` prints its N costliest functions.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throughput import populate, sa_url  # noqa: E402
from jobs.embedded_redis import EmbeddedRedis, free_port  # noqa: E402


def measure(work) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", help="a scratch PostgreSQL database (wiped)")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--profile", help="write a cProfile of the runs to this file")
    parser.add_argument("--top", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name, \
            EmbeddedRedis(Path(tmp_name) / "redis") as redis_server:
        tmp = Path(tmp_name)
        url = args.pg or f"sqlite:///{tmp / 'bench.db'}"
        port = free_port()
        sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l",
                                 f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            return _run(args, url, port, redis_server.url, tmp)
        finally:
            sink.terminate()
            sink.wait()


def _run(args, url: str, port: int, redis_url: str, tmp: Path) -> int:
    os.environ.update(DATABASE_URL=url, REDIS_URL=redis_url, LOG_LEVEL="WARNING",
                      SECRET_KEY=secrets.token_urlsafe(32),
                      HERALD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
                      REPORTS_DIR=str(tmp / "reports"), MAIL_FROM="bench@herald.example",
                      SMTP_URL=f"smtp://127.0.0.1:{port}", BASE_URL="http://bench")
    for name in ("FLASK_DEBUG", "FLASK_APP", "PROMETHEUS_MULTIPROC_DIR"):
        os.environ.pop(name, None)
    if args.pg:
        with sa.create_engine(sa_url(args.pg)).begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
                   cwd=ROOT, check=True, capture_output=True)
    populate(url, args.runs)

    from rq import Queue

    from jobs.delivery import mailer
    from jobs.dispatch import dispatch
    from jobs.fair import FairQueue
    from jobs.queue import connect
    from jobs.reports import storage
    from jobs.worker import HeraldWorker, queues
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Delivery

    app = create_app()
    conn = connect(redis_url)
    mailer.keep_open()
    with app.app_context():
        storage.store()
        now = datetime.now(UTC).replace(microsecond=0)
        db.session.execute(sa.text("UPDATE tasks SET next_run_at = :t"),
                           {"t": (now - timedelta(seconds=1)).replace(tzinfo=None)})
        db.session.commit()
        released = dispatch(now, conn)
        db.session.remove()
        assert len(released) == args.runs, (len(released), args.runs)

        def work(names: list[str]) -> None:
            noop = names == ["noop"]  # as `rq worker -w …HeraldWorker` runs it
            HeraldWorker([Queue("noop", connection=conn)] if noop else queues(conn, names),
                         connection=conn, queue_class=Queue if noop else FairQueue,
                         app=None if noop else app).work(burst=True, logging_level="WARNING")

        warm = Queue("noop", connection=conn)  # imports and first connections, not timed
        warm.enqueue("builtins.len", "")
        work(["noop"])
        profile = cProfile.Profile() if args.profile or args.top else None
        if profile:
            profile.enable()
        cpu, wall = measure(lambda: work(["reports"]))
        if profile:
            profile.disable()
        sent = db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)
                                 .where(Delivery.status == "sent"))
        db.session.remove()
        with conn.pipeline() as pipe:
            warm.enqueue_many([Queue.prepare_data("builtins.len", args=("",), result_ttl=600)
                               for _ in range(args.runs)], pipeline=pipe)
            pipe.execute()
        noop_cpu, noop_wall = measure(lambda: work(["noop"]))
        db.engine.dispose()
    mailer.close()
    n = args.runs
    print(f"[{url.split(':')[0]}] {n} runs, {sent} emails sent: "
          f"{cpu / n * 1000:.1f} ms CPU, {wall / n * 1000:.1f} ms wall per run; no-op job "
          f"{noop_cpu / n * 1000:.1f} ms CPU, {noop_wall / n * 1000:.1f} ms wall; "
          f"CPU ratio no-op/run {noop_cpu / cpu:.2f}, wall ratio {noop_wall / wall:.2f}; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    if profile:
        if args.profile:
            profile.dump_stats(args.profile)
        if args.top:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    return 0 if sent == n else 1


if __name__ == "__main__":
    sys.exit(main())
