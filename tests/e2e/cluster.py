"""Herald as a platform runs it: every process of the Procfile (webapp/processes.py) as an OS
process of its own, each with its own REPORTS_DIR (its "machine's" ephemeral disk), sharing
only the database, one Redis and the S3-compatible store. The test plays the platform: it
starts, kills (-9) and stops them."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from jobs.embedded_redis import EmbeddedRedis, free_port
from tests.serving import ROOT, descendants
from webapp.processes import PROCESSES


@dataclass
class Proc:
    """One process as the platform started it (in a process group of its own)."""

    kind: str
    index: int
    popen: subprocess.Popen
    log_path: Path
    port: int | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}.{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def children(self) -> dict[int, int]:
        return descendants(self.popen.pid)

    def kill9(self) -> None:
        """kill -9 of the process and all its descendants (RQ's scheduler runs in a process
        of its own), as when its machine is lost."""
        for pid in [self.popen.pid, *self.children()]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.popen.wait(timeout=30)

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]


@dataclass
class Cluster:
    tmp: Path
    env: dict[str, str]
    redis: EmbeddedRedis
    procs: list[Proc] = field(default_factory=list)

    def start(self, kind: str, index: int) -> Proc:
        process = next(p for p in PROCESSES if p.name == kind)
        home = self.tmp / f"{kind}{index}"
        home.mkdir(parents=True, exist_ok=True)
        env = {**self.env, "REPORTS_DIR": str(home / "reports")}
        port = None
        if kind == "web":
            port = free_port()
            env.update(PORT=str(port), HOST="127.0.0.1")
        log_path = home / "process.log"
        with log_path.open("wb") as log:  # the child keeps its own descriptor
            popen = subprocess.Popen(process.argv(), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        proc = Proc(kind, index, popen, log_path, port)
        self.procs.append(proc)
        return proc

    def of(self, kind: str) -> list[Proc]:
        return [p for p in self.procs if p.kind == kind and p.popen.poll() is None]

    @property
    def webs(self) -> list[Proc]:
        return [p for p in self.procs if p.kind == "web"]

    def exited(self) -> list[str]:
        """Processes that ended without the test killing them."""
        return [f"{p.name} (status {p.popen.returncode}):\n{p.log(1500)}" for p in self.procs
                if p.popen.poll() is not None and p.popen.returncode != -signal.SIGKILL]

    def readiness(self, web: Proc) -> tuple[int, dict]:
        try:
            answer = requests.get(f"{web.url}/readyz", timeout=10)
        except requests.RequestException as exc:
            return 0, {"error": str(exc)}
        return answer.status_code, answer.json()

    def logs(self, tail: int = 1500) -> str:
        return "\n".join(f"--- {p.name}\n{p.log(tail)}" for p in self.procs)

    def wait(self, what: str, check: Callable, timeout: float, every: float = 0.5):
        """Poll ``check`` until it returns something true, or fail after ``timeout`` s with
        the processes' logs; a process that exited on its own fails at once."""
        deadline = time.monotonic() + timeout
        while not (result := check()):
            gone = self.exited()
            assert not gone, f"while waiting for {what}, a process exited:\n" + "\n".join(gone)
            assert time.monotonic() < deadline, \
                f"{what}: not within {timeout:.0f} s\n{self.logs()}"
            time.sleep(every)
        return result

    def stop(self) -> None:
        """SIGTERM every process group, then SIGKILL whatever remains."""
        for proc in self.procs:
            if proc.popen.poll() is None:
                try:
                    os.killpg(proc.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 40
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.popen.wait(timeout=30)
        self.redis.stop()
