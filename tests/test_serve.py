"""`flask --app app serve` as a user runs it, the embedded Redis, and the periodic jobs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from stat import S_IMODE

import pytest
import redis
from cryptography.fernet import Fernet
from rq import Queue
from rq_scheduler import Scheduler

from jobs.embedded_redis import EmbeddedRedis, free_port
from jobs.scheduler import JOB_ID_PREFIX, register_periodic_jobs
from jobs.worker import work_burst

from .serving import (
    STOP_BUDGET,
    Served,
    alive,
    children_running,
    clean_environ,
    cmdline,
    flask,
    proc_stat,
)

# --- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def serve_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a production-like run, on a freshly migrated SQLite database."""
    tmp = tmp_path_factory.mktemp("serve")
    env = clean_environ(
        SECRET_KEY="test-serve-secret-key-0123456789abcdef",
        HERALD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DATABASE_URL=f"sqlite:///{tmp / 'h.db'}",
        REPORTS_DIR=str(tmp / "reports"),
    )
    upgrade = flask(["db", "upgrade"], env)
    assert upgrade.returncode == 0, f"db upgrade failed:\n{upgrade.stdout}\n{upgrade.stderr}"
    return env


@pytest.fixture
def served(serve_env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    server = Served(serve_env, tmp_path / "serve.log", free_port())
    try:
        server.wait_for_login_page()
        yield server
    finally:
        server.stop()


# --- serve -------------------------------------------------------------------------------

def test_serve_runs_every_part_and_sigterm_leaves_no_process(served: Served) -> None:
    pid = served.process.pid
    deadline = time.monotonic() + 20
    while not (children_running(pid, "jobs.worker") and children_running(pid, "jobs.scheduler")
               and children_running(pid, "redis-server")):
        assert time.monotonic() < deadline, f"not every part started:\n{served.log()}"
        time.sleep(0.2)
    seen = served.record()
    assert len(seen) >= 5, seen  # redis, gunicorn master + workers, an RQ worker, the scheduler

    started = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    try:
        status = served.process.wait(timeout=STOP_BUDGET)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve did not exit within {STOP_BUDGET:.0f} s of SIGTERM:\n{served.log()}")
    assert status == 0, served.log()
    assert time.monotonic() - started < STOP_BUDGET
    assert "did not stop in time" not in served.log(), served.log()  # nothing killed

    left = {p: cmdline(p) for p, start_time in seen.items() if alive(p, start_time)}
    assert left == {}, f"processes left behind: {left}"


def test_serve_restarts_a_killed_worker(served: Served) -> None:
    pid = served.process.pid
    deadline = time.monotonic() + 20
    # The report worker and the dispatcher's own worker (the `system` queue).
    while len(workers := children_running(pid, "jobs.worker")) < 2:
        assert time.monotonic() < deadline, f"no worker started:\n{served.log()}"
        time.sleep(0.2)
    served.record()
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)

    deadline = time.monotonic() + 15
    while not (children_running(pid, "jobs.worker") - workers):
        assert time.monotonic() < deadline, f"the worker was not restarted:\n{served.log()}"
        time.sleep(0.2)
    served.record()
    assert "exited unexpectedly" in served.log()
    assert served.process.poll() is None


# --- embedded Redis, worker, periodic jobs ---------------------------------------------------

def test_embedded_redis_starts_answers_and_stops(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    with server:
        assert server.url.startswith(f"redis://:{server.password}@127.0.0.1:")
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.close()
        # Without the password nothing is answered (RQ unpickles what it reads from Redis).
        stranger = redis.Redis(host="127.0.0.1", port=server.port)
        with pytest.raises(redis.exceptions.AuthenticationError):
            stranger.ping()
        stranger.close()
        assert S_IMODE((tmp_path / "redis").stat().st_mode) == 0o700
        assert S_IMODE((tmp_path / "redis" / "redis.conf").stat().st_mode) == 0o600
        pid = server.pid
        assert pid is not None and proc_stat(pid) is not None
    stat = proc_stat(pid)
    assert stat is None or stat[0] == "Z"
    server.stop()  # a second stop is harmless


@pytest.fixture
def redis_conn(tmp_path: Path) -> Iterator[redis.Redis]:
    with EmbeddedRedis(tmp_path / "redis") as server:
        conn = redis.Redis.from_url(server.url)
        yield conn
        conn.close()


def test_register_periodic_jobs_is_idempotent(redis_conn: redis.Redis) -> None:
    scheduler = Scheduler(queue_name="system", connection=redis_conn)

    first = register_periodic_jobs(redis_conn, 10)
    second = register_periodic_jobs(redis_conn, 10)

    assert first == second
    jobs = list(scheduler.get_jobs())
    assert [job.id for job in jobs] == first
    assert jobs[0].func_name == "jobs.tick.run_tick"
    assert jobs[0].origin == "system"
    assert jobs[0].meta["interval"] == 10


def test_a_changed_definition_replaces_the_stale_job_only(redis_conn: redis.Redis) -> None:
    scheduler = Scheduler(queue_name="system", connection=redis_conn)
    other = scheduler.schedule(datetime.now(UTC), "os.getpid", interval=60, id="someone-else")
    old = register_periodic_jobs(redis_conn, 10)

    new = register_periodic_jobs(redis_conn, 30)

    assert old != new
    assert {job.id for job in scheduler.get_jobs()} == {*new, other.id}
    assert not redis_conn.exists(f"rq:job:{old[0]}")
    assert all(job_id.startswith(JOB_ID_PREFIX) for job_id in new)


def test_work_burst_runs_queued_jobs_in_process(redis_conn: redis.Redis) -> None:
    from webapp import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    job = Queue("reports", connection=redis_conn).enqueue("os.getpid")

    assert work_burst(app, redis_conn) is True

    job.refresh()
    assert job.return_value() == os.getpid()
    assert work_burst(app, redis_conn) is False


def test_json_logs_and_an_idle_herald_is_quiet(serve_env: dict[str, str], tmp_path: Path) -> None:
    server = Served({**serve_env, "LOG_FORMAT": "json"}, tmp_path / "serve.log", free_port())
    try:
        server.wait_for_login_page()
        deadline = time.monotonic() + 30
        while '"logger": "jobs.scheduler"' not in server.log():  # the tick is scheduled
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        time.sleep(1)
        settled = len(server.log(tail=10**6))
        time.sleep(4)  # four dispatcher ticks
        idle = server.log(tail=10**6)[settled:]
    finally:
        server.stop()
    assert idle == "", f"an idle Herald logged:\n{idle}"
    entries = [json.loads(line) for line in server.log(tail=10**6).splitlines() if line]
    loggers = {entry["logger"] for entry in entries}
    assert {"herald.serve", "gunicorn.error", "gunicorn.access", "rq.worker",
            "jobs.scheduler"} <= loggers, loggers
    assert all(entry["message"] and entry["pid"] for entry in entries)
