"""Helpers for tests that run Herald the way users and platforms do: `flask serve` (or
`make run`) as a real process tree, a database of its own, an SMTP sink that takes its time."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa

from jobs.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 180.0  # generous: a loaded machine starts gunicorn, workers and Redis slowly
# Seconds an idle Herald takes to stop: well under SHUTDOWN_GRACE (25 s), so a stop that waits
# for it fails; generous, since each process's own exit takes seconds on a loaded machine.
STOP_BUDGET = 15.0
# Settings a test's environment must not inherit from the shell that runs pytest.
HERALD_VARIABLES = {"FLASK_DEBUG", "FLASK_APP", "REDIS_URL", "DATABASE_URL", "BASE_URL", "HOST",
                    "PORT", "WEB_CONCURRENCY", "SHUTDOWN_GRACE", "LOG_FORMAT", "LOG_LEVEL",
                    "SMTP_URL", "REPORTS_DIR", "SECRET_KEY", "HERALD_ENCRYPTION_KEY",
                    "MAIL_FROM", "SERVE_ARGS"}


def clean_environ(**settings: str) -> dict[str, str]:
    """This process's environment without Herald's settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in HERALD_VARIABLES}
    return {**env, "PYTHONUNBUFFERED": "1", **settings}


# --- /proc helpers: Linux only, like `serve`'s process groups -------------------------------

def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every live descendant of ``root``: pid → start time (to tell a reused pid apart)."""
    children: dict[int, list[int]] = {}
    started: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = proc_stat(int(entry.name))
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


def alive(pid: int, start_time: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[0] != "Z" and stat[2] == start_time


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def children_running(parent: int, needle: str) -> set[int]:
    """Live direct children of ``parent`` whose command line contains ``needle``."""
    found = set()
    for pid in descendants(parent):
        stat = proc_stat(pid)
        if stat is not None and stat[1] == parent and needle in cmdline(pid):
            found.add(pid)
    return found


# --- Herald as a process tree ------------------------------------------------------------

def flask(args: list[str], env: dict[str, str], cwd: Path = ROOT,
          stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=cwd,
                          env=env, input=stdin, capture_output=True, text=True, timeout=120,
                          check=False)


class Served:
    """A running `flask serve` (or ``argv``, e.g. `make run`) started as a user starts it;
    ``port`` is where it is expected to answer."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None,
                 argv: list[str] | None = None, cwd: Path = ROOT) -> None:
        port = self.port = port or free_port()
        self.log_path = log_path
        self._log = log_path.open("wb")  # closed in stop()
        argv = argv or [sys.executable, "-m", "flask", "--app", "app", "serve", "--port",
                        str(port)]
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.seen: dict[int, int] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, tail: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def wait_for_login_page(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited early:\n{self.log()}"
            self.record()
            try:
                with urllib.request.urlopen(self.url + "/login", timeout=10) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        pytest.fail(f"GET /login never answered 200 within {timeout:.0f} s:\n{self.log()}")

    def record(self) -> dict[int, int]:
        self.seen.update(descendants(self.process.pid))
        return self.seen

    def stop(self) -> None:
        """Teardown: whatever a failed test left running goes, by the pids we saw."""
        if self.process.poll() is None:
            self.record()
            with _suppress_lookup():
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_BUDGET + 30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid, start_time in self.seen.items():
            if alive(pid, start_time):
                os.kill(pid, signal.SIGKILL)
        self._log.close()


@contextmanager
def _suppress_lookup() -> Iterator[None]:
    try:
        yield
    except ProcessLookupError:
        pass


def api(served: Served, method: str, path: str, token: str,
        body: dict | None = None) -> tuple[int, dict]:
    """One JSON API call over HTTP, as a script would make it."""
    request = urllib.request.Request(  # noqa: S310 - our own server
        served.url + "/api/v1" + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


# --- a database of its own -----------------------------------------------------------------

@contextmanager
def scratch_database(tmp_path: Path) -> Iterator[str]:
    """An empty database for a process tree: SQLite in ``tmp_path``, or a PostgreSQL database
    created beside TEST_DATABASE_URL's (and dropped after)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'herald.db'}"
        return
    name = f"herald_serve_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def engine_for(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


# --- an SMTP server that takes its time ------------------------------------------------------

class SlowSink:
    """aiosmtpd handler: keeps every message the moment its data arrives (so a message cut
    off and sent again counts twice), then waits ``hold`` seconds before answering 250."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.messages: list[tuple[tuple[str, ...], EmailMessage]] = []
        self.lock = threading.Lock()
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        with self.lock:
            self.messages.append((tuple(envelope.rcpt_tos), message_from_bytes(
                envelope.content, policy=policy.default)))
        self.arrived.set()
        await asyncio.sleep(self.hold)
        return "250 Message accepted for delivery"

    def recipients(self) -> list[str]:
        with self.lock:
            return sorted(r for rcpts, _ in self.messages for r in rcpts)
