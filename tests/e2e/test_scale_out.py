"""The scale-out proof (docs/operations.md, "Scaling out"): Herald's Procfile processes as
separate OS processes — 2 web (gunicorn), 2 schedulers, 3 report workers and the system
worker — each with a REPORTS_DIR of its own, sharing only the database, one Redis (started by
the test) and an S3-compatible store (moto's server). 1,000 tasks over 10 companies fall due
at one instant. Meanwhile one worker is killed (-9) in the middle of a
run, one scheduler is killed (-9), and Redis is restarted once (without its data).

Then: every due run happened exactly once (its retry, for the run whose worker was killed),
every recipient got exactly one email at the SMTP sink, every CSV downloads through either
web process, and /readyz said "redis" while Redis was down and recovered after.

On SQLite the same processes share one database file: sound on one machine (SQLite's file
locks), which is what this test has; a real multi-machine deployment uses PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import redis
import requests
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from rq import Worker

from jobs.embedded_redis import EmbeddedRedis, free_port
from tests.conftest import PASSWORD, Mailbox
from tests.serving import ROOT, clean_environ

from .cluster import Cluster
from .conftest import fresh_database

# 1,000 tasks on PostgreSQL, the database processes on several machines share; 100 on SQLite,
# whose one writer at a time serialises the whole cluster (it proves the same, smaller).
# SCALE_OUT_TASKS chooses another number (e.g. 100 for a quick look on a busy machine).
COMPANIES = 10
SHARED_DATABASE = (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgres")
PER_COMPANY = int(os.environ.get("SCALE_OUT_TASKS") or (1000 if SHARED_DATABASE else 100)) \
    // COMPANIES
TASKS = COMPANIES * PER_COMPANY
LEAD = 30  # seconds from "every process is ready" to the instant (all prepared ahead)
# Seconds for every run to be done: about 1 run/s with 3 workers at load 25 on 2 cores.
FINISH = 300 + 1.5 * TASKS
HEARTBEAT_TIMEOUT = 30  # seconds: the killed worker's run is reaped and retried after this


def populate(database_url: str, tmp) -> dict[str, str]:
    """10 companies, each with an admin and an API token, and 100 tasks each with one
    recipient of its own, not due yet. Returns each company's token by slug."""
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import ApiToken, Task, TaskRecipient, User
    from webapp.services.people import create_company

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url.replace(
        "postgresql://", "postgresql+psycopg://", 1), "SECRET_KEY": "scale",
        "REPORTS_DIR": str(tmp / "populate"),
        "HERALD_ENCRYPTION_KEY": Fernet.generate_key().decode()})
    tokens = {}
    with app.app_context():
        far = datetime(2030, 1, 1, tzinfo=UTC)
        for c in range(COMPANIES):
            company = create_company(f"Scale {c}", "UTC", f"admin@scale{c}.example", PASSWORD)
            db.session.flush()
            admin = db.session.scalar(sa.select(User).where(User.company_id == company.id))
            token, plain = ApiToken.issue(admin)
            db.session.add(token)
            tokens[company.slug] = plain
            db.session.execute(sa.insert(Task), [{
                "company_id": company.id, "name": f"task {t}", "report_type": "usage_by_rooms",
                "channels": ["whatsapp"], "schedule_kind": "daily", "schedule_time": "06:00",
                "timezone": "UTC", "options": {}, "active": True, "status": "scheduled",
                "series_start": datetime(2026, 1, 1, tzinfo=UTC), "next_run_at": far}
                for t in range(PER_COMPANY)])
            ids = db.session.scalars(sa.select(Task.id).where(
                Task.company_id == company.id).order_by(Task.id)).all()
            db.session.execute(sa.insert(TaskRecipient), [{
                "task_id": task_id, "company_id": company.id,
                "email": f"r{task_id}@scale{c}.example",
                "email_key": f"r{task_id}@scale{c}.example"} for task_id in ids])
        db.session.commit()
        db.engine.dispose()
    return tokens


@pytest.fixture
def cluster(tmp_path, s3_server):
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    database = fresh_database(tmp_path, "scale")
    redis_server = EmbeddedRedis(tmp_path / "redis", port=free_port()).start()
    bucket = s3_server.new_bucket()
    env = clean_environ(
        **s3_server.env, DATABASE_URL=database, REDIS_URL=redis_server.url,
        SECRET_KEY="scale-out-secret-key-0123456789abcdef",
        HERALD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        REPORT_STORAGE_URL=f"s3://{bucket}/herald", SMTP_URL=f"smtp://127.0.0.1:{smtp.port}",
        MAIL_FROM="Herald <reports@herald.example>", WEB_CONCURRENCY="2",
        RUN_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT), SHUTDOWN_GRACE="5", LOG_LEVEL="INFO")
    upgrade = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                             check=False)
    assert upgrade.returncode == 0, upgrade.stderr
    tokens = populate(database, tmp_path)
    cluster = Cluster(tmp_path, env, redis_server)
    engine = sa.create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        for kind, count in (("web", 2), ("system", 1), ("worker", 3), ("scheduler", 2)):
            for index in range(1, count + 1):
                cluster.start(kind, index)
        cluster.env["BASE_URL"] = cluster.webs[0].url
        yield cluster, engine, mailbox, tokens, (s3_server, bucket)
    finally:
        cluster.stop()
        smtp.stop()
        engine.dispose()
        for web in cluster.webs:  # a request that failed is a bug, whatever the test saw
            assert "Exception on /" not in web.log(10**7), web.log()


def utc(value: datetime | str) -> datetime:
    """A timestamp read by plain SQL (SQLite gives text), as an aware UTC datetime."""
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT status, count(*) FROM runs GROUP BY status")
                                 ).all())


def test_scale_out_processes_lose_nothing_and_do_nothing_twice(cluster):
    cluster, engine, mailbox, tokens, (s3, bucket) = cluster
    started = time.monotonic()
    for web in cluster.webs:
        cluster.wait(f"{web.name} ready", lambda w=web: cluster.readiness(w)[0] == 200,
                     timeout=240)
    instant = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=LEAD)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE tasks SET next_run_at = :t"),
                     {"t": instant.replace(tzinfo=None)})

    # kill -9 a report worker in the middle of a run, once runs are
    # under way: a run the database has as running, whose job that worker holds.
    conn = redis.Redis.from_url(cluster.redis.url)

    def busy_worker():
        if counts(engine).get("succeeded", 0) < TASKS // 20:
            return None
        with engine.connect() as db:
            running = set(db.scalars(sa.text("SELECT id FROM runs WHERE status = 'running'")))
        ours = {w.popen.pid: w for w in cluster.of("worker")}
        for worker in Worker.all(connection=conn):
            job = worker.get_current_job_id()
            if worker.pid in ours and job and job.startswith("herald-run-") and \
                    int(job.rsplit("-", 1)[1]) in running:
                return ours[worker.pid], int(job.rsplit("-", 1)[1])
        return None

    victim, cut_run = cluster.wait("a worker in the middle of a run", busy_worker,
                                   timeout=LEAD + FINISH, every=0.05)
    victim.kill9()
    conn.close()
    with engine.connect() as db:  # the run could have ended just before the kill
        cut = db.scalar(sa.text("SELECT status FROM runs WHERE id = :id"),
                        {"id": cut_run}) == "running"
    cluster.of("scheduler")[0].kill9()
    before_restart = counts(engine)

    # Redis goes away and comes back empty, on the same address.
    cluster.redis.stop()
    for web in cluster.webs:
        status, body = cluster.wait(f"{web.name} not ready without Redis", lambda w=web: (
            r := cluster.readiness(w))[0] == 503 and "redis" in r[1].get("missing", {}) and r,
            timeout=60)
    time.sleep(3)  # down for a moment, as a restart is (not for correctness)
    cluster.redis.start()
    for web in cluster.webs:
        cluster.wait(f"{web.name} ready again", lambda w=web: cluster.readiness(w)[0] == 200,
                     timeout=180)

    def all_done():
        with engine.connect() as conn:
            open_runs = conn.scalar(sa.text(
                "SELECT count(*) FROM runs WHERE status IN ('queued', 'running')"))
            succeeded = conn.scalar(sa.text(
                "SELECT count(DISTINCT task_id) FROM runs WHERE status = 'succeeded'"))
        return open_runs == 0 and succeeded == TASKS

    cluster.wait("every run done", all_done, timeout=FINISH, every=2)
    elapsed = time.monotonic() - started

    with engine.connect() as conn:
        runs = conn.execute(sa.text(
            "SELECT r.id, r.task_id, r.status, r.scheduled_for, r.retry_of_id, r.error, "
            "r.file_name, c.slug FROM runs r JOIN companies c ON c.id = r.company_id "
            "ORDER BY r.id")).all()
        deliveries = conn.execute(sa.text(
            "SELECT d.run_id, d.target, d.status, d.message_id FROM deliveries d")).all()
        expected = set(conn.scalars(sa.text("SELECT email FROM task_recipients")))
    # Every task: one run for the instant; it succeeded, or its worker was killed and its
    # one retry succeeded. Nothing else ran.
    by_task = defaultdict(list)
    for run in runs:
        by_task[run.task_id].append(run)
    assert len(by_task) == TASKS
    killed = []
    for task_runs in by_task.values():
        first = task_runs[0]
        assert first.scheduled_for is not None and utc(first.scheduled_for) == instant, \
            task_runs
        if len(task_runs) == 1:
            assert first.status == "succeeded", first
            continue
        assert len(task_runs) == 2, task_runs
        retry = task_runs[1]
        assert first.status == "failed" and "stopped responding" in first.error, first
        assert retry.retry_of_id == first.id and retry.status == "succeeded", retry
        killed.append(first.id)
    assert killed == ([cut_run] if cut else []), (killed, cut_run, cut)

    # Every recipient: exactly one email, counted at the SMTP sink. The one window left (a
    # worker killed after the sink took the message, before "sent" was recorded) sends that
    # same message again, with its Message-ID: a mail system keeps one; it may only concern
    # the run whose worker was killed.
    received = defaultdict(list)
    for rcpts, message in list(mailbox.messages):
        for r in rcpts:
            if r in expected:
                received[r].append(message["Message-ID"])
    assert set(received) == expected, sorted(expected ^ set(received))[:10]
    distinct = {r: ids for r, ids in received.items() if len(set(ids)) != 1}
    assert not distinct, f"recipients who got more than one email: {distinct}"
    again = {r for r, ids in received.items() if len(ids) > 1}
    killed_targets = {d.target for d in deliveries if d.run_id in killed}
    assert again <= killed_targets, f"sent again, not after the kill: {again}"
    final = [r for r in runs if r.status == "succeeded"]
    final_ids = {r.id for r in final}
    assert sum(d.status == "sent" and d.run_id in final_ids for d in deliveries) == TASKS

    # Every CSV, through either web process; only the store is shared.
    keys = set()
    for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(o["Key"] for o in page.get("Contents", []))
    assert {f"herald/{r.slug}/{r.id}/{r.file_name}" for r in final} <= keys
    sessions = [requests.Session() for _ in cluster.webs]
    for run in final:
        bodies = []
        for web, session in zip(cluster.webs, sessions, strict=True):
            answer = session.get(f"{web.url}/api/v1/runs/{run.id}/csv", timeout=60,
                                 headers={"Authorization": f"Bearer {tokens[run.slug]}"})
            assert answer.status_code == 200, (web.name, run.id, answer.text[:300])
            bodies.append(answer.content)
        assert bodies[0] == bodies[1] and bodies[0].startswith(b"company,"), run.id
    for web in cluster.webs:
        local = [p for p in (cluster.tmp / f"web{web.index}").rglob("*.csv")]
        assert not local, f"{web.name} kept reports on its own disk: {local[:3]}"
    print(f"\nscale-out: {TASKS} runs over {COMPANIES} companies; run {cut_run} cut by the "
          f"kill: {cut} (retried: {killed}); {before_restart} before Redis restarted; "
          f"{elapsed:.0f} s to all done, "
          f"load average {os.getloadavg()[0]:.1f}")
