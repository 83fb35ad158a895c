"""`flask --app app serve` as a user runs it, the embedded Redis, and the periodic jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet
from rq import Queue
from rq_scheduler import Scheduler

from jobs.embedded_redis import EmbeddedRedis, free_port
from jobs.scheduler import JOB_ID_PREFIX, register_periodic_jobs
from jobs.worker import work_burst

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60.0
STOP_BUDGET = 10.0


# --- /proc helpers: Linux only, like `serve`'s process groups -------------------------------

def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """Every live descendant of ``root``: pid → start time (to tell a reused pid apart)."""
    children: dict[int, list[int]] = {}
    started: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is None or stat[0] == "Z":
            continue
        children.setdefault(stat[1], []).append(int(entry.name))
        started[int(entry.name)] = stat[2]
    found: dict[int, int] = {}
    todo = [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found[pid] = started[pid]
            todo.append(pid)
    return found


def _alive(pid: int, start_time: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z" and stat[2] == start_time


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _children_running(parent: int, needle: str) -> set[int]:
    """Live direct children of ``parent`` whose command line contains ``needle``."""
    found = set()
    for pid in _descendants(parent):
        stat = _stat(pid)
        if stat is not None and stat[1] == parent and needle in _cmdline(pid):
            found.add(pid)
    return found


# --- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def serve_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a production-like run, on a freshly migrated SQLite database."""
    tmp = tmp_path_factory.mktemp("serve")
    env = {key: value for key, value in os.environ.items()
           if key not in {"FLASK_DEBUG", "REDIS_URL", "DATABASE_URL", "FLASK_APP"}}
    env.update(
        SECRET_KEY="test-serve-secret-key-0123456789abcdef",
        HERALD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DATABASE_URL=f"sqlite:///{tmp / 'h.db'}",
        REPORTS_DIR=str(tmp / "reports"),
        PYTHONUNBUFFERED="1",
    )
    upgrade = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert upgrade.returncode == 0, f"db upgrade failed:\n{upgrade.stdout}\n{upgrade.stderr}"
    return env


class Served:
    """A running `flask serve` started the way a user starts it."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._log = log_path.open("wb")  # closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "serve", "--port", str(self.port)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.seen: dict[int, int] = {}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def wait_for_login_page(self) -> None:
        url = f"http://127.0.0.1:{self.port}/login"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited early:\n{self.log()}"
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        pytest.fail(f"GET /login never answered 200 within {START_TIMEOUT:.0f} s:\n{self.log()}")

    def record(self) -> dict[int, int]:
        self.seen.update(_descendants(self.process.pid))
        return self.seen

    def stop(self) -> None:
        """Teardown: whatever a failed test left running goes, by the pids we saw."""
        if self.process.poll() is None:
            self.record()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_BUDGET + 5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid, start_time in self.seen.items():
            if _alive(pid, start_time):
                os.kill(pid, signal.SIGKILL)
        self._log.close()


@pytest.fixture
def served(serve_env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    server = Served(serve_env, tmp_path / "serve.log")
    try:
        server.wait_for_login_page()
        yield server
    finally:
        server.stop()


# --- serve -------------------------------------------------------------------------------

def test_serve_runs_every_part_and_sigterm_leaves_no_process(served: Served) -> None:
    pid = served.process.pid
    deadline = time.monotonic() + 20
    while not (_children_running(pid, "jobs.worker") and _children_running(pid, "jobs.scheduler")
               and _children_running(pid, "redis-server")):
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

    left = {p: _cmdline(p) for p, start_time in seen.items() if _alive(p, start_time)}
    assert left == {}, f"processes left behind: {left}"


def test_serve_restarts_a_killed_worker(served: Served) -> None:
    pid = served.process.pid
    deadline = time.monotonic() + 20
    # The report worker and the dispatcher's own worker (the `system` queue).
    while len(workers := _children_running(pid, "jobs.worker")) < 2:
        assert time.monotonic() < deadline, f"no worker started:\n{served.log()}"
        time.sleep(0.2)
    served.record()
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)

    deadline = time.monotonic() + 15
    while not (_children_running(pid, "jobs.worker") - workers):
        assert time.monotonic() < deadline, f"the worker was not restarted:\n{served.log()}"
        time.sleep(0.2)
    served.record()
    assert "exited unexpectedly" in served.log()
    assert served.process.poll() is None


# --- embedded Redis, worker, periodic jobs ---------------------------------------------------

def test_embedded_redis_starts_answers_and_stops(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    with server:
        assert server.url.startswith("redis://127.0.0.1:")
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.close()
        pid = server.pid
        assert pid is not None and _stat(pid) is not None
    stat = _stat(pid)
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
    assert jobs[0].func_name == "jobs.dispatch.run_tick"
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
