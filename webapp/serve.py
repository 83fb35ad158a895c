"""``flask --app app serve``: web server, RQ workers and scheduler under one supervisor.

Each part runs as a child process in its own process group, with the same environment. When
``REDIS_URL`` is unset an embedded Redis is started first and handed to the children. A child
that dies unexpectedly is restarted after a short backoff. SIGTERM or SIGINT stops everything
within ``SHUTDOWN_BUDGET`` seconds and exits 0. The Procfile runs the same parts separately.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from jobs.embedded_redis import EmbeddedRedis, die_with_parent
from jobs.queue import SYSTEM_QUEUE

log = logging.getLogger("herald.serve")

TICK = 0.2  # seconds between two looks at the children
BACKOFF_START, BACKOFF_MAX = 1.0, 30.0  # seconds before restarting a child that died
STABLE_AFTER = 30.0  # a child that ran this long before dying restarts without backoff
SECOND_TERM_AFTER = 4.0  # a second SIGTERM (RQ's cold shutdown: abandon the current job)
KILL_AFTER = 7.0  # SIGKILL to whatever remains of a child's process group
SHUTDOWN_BUDGET = 10.0


@dataclass
class Child:
    """One supervised process: how to start it and what became of it."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff: float = BACKOFF_START
    restart_at: float | None = None
    restarts: int = field(default=0)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """Starts the children, restarts those that die, stops them all on request."""

    def __init__(self, children: list[Child], env: dict[str, str], cwd: str,
                 redis: EmbeddedRedis | None = None) -> None:
        self.children = children
        self.env = env
        self.cwd = cwd
        self.redis = redis
        self.stopping = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("Received %s: stopping every process", signal.Signals(signum).name)
        self.stopping = True

    def run(self) -> None:
        """Supervise until SIGTERM/SIGINT, then stop every child and the embedded Redis."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        try:
            for child in self.children:
                self._start(child)
            while not self.stopping:
                self._check_redis()
                for child in self.children:
                    self._check(child)
                time.sleep(TICK)
        finally:
            self.shutdown()

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            child.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, which we signal as a whole
            preexec_fn=die_with_parent,
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        log.info("Started %s (pid %d): %s", child.name, child.process.pid, " ".join(child.argv))

    def _check(self, child: Child) -> None:
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restarts += 1
                try:
                    self._start(child)
                except Exception:  # restarting is the point: log and try again later
                    log.exception("Could not restart %s", child.name)
                    self._schedule_restart(child, now)
            return
        if child.process is None or child.alive:
            return
        pid, status = child.process.pid, child.process.returncode
        _kill_group(pid, signal.SIGKILL)  # leftovers of the dead child (gunicorn workers, …)
        if now - child.started_at >= STABLE_AFTER:
            child.backoff = BACKOFF_START
        self._schedule_restart(child, now)
        log.warning("%s (pid %d) exited unexpectedly with %s; restarting in %.0f s",
                    child.name, pid, _describe(status), child.restart_at - now)

    def _schedule_restart(self, child: Child, now: float) -> None:
        child.restart_at = now + child.backoff
        child.backoff = min(child.backoff * 2, BACKOFF_MAX)

    def _check_redis(self) -> None:
        if self.redis is None or self.redis.running:
            return
        log.warning("The embedded Redis (pid %s) died; restarting it on port %s; its data is "
                    "gone, so the scheduler restarts too", self.redis.pid, self.redis.port)
        self.redis.stop()
        self.redis.start()
        for child in self.children:
            if child.name == "scheduler" and child.alive:
                child.process.terminate()  # it re-registers the periodic jobs when restarted

    def shutdown(self) -> None:
        """SIGTERM each child, again after a while, then SIGKILL; then stop Redis."""
        start = time.monotonic()
        live = [child.process for child in self.children if child.alive]
        for process in live:
            _signal_leader(process, signal.SIGTERM)
        second_term_sent = False
        while any(process.poll() is None for process in live):
            elapsed = time.monotonic() - start
            if elapsed >= KILL_AFTER:
                break
            if elapsed >= SECOND_TERM_AFTER and not second_term_sent:
                for process in live:
                    if process.poll() is None:
                        _signal_leader(process, signal.SIGTERM)
                second_term_sent = True
            time.sleep(0.05)
        for child in self.children:
            if child.process is None:
                continue
            _kill_group(child.process.pid, signal.SIGKILL)
            if child.process.poll() is None:
                child.process.kill()
            child.process.wait()
            log.info("Stopped %s (pid %d)", child.name, child.process.pid)
        if self.redis is not None:
            remaining = SHUTDOWN_BUDGET - (time.monotonic() - start) - 0.5
            self.redis.stop(timeout=max(0.5, remaining))
            log.info("Stopped the embedded Redis")


def _signal_leader(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        process.send_signal(signum)
    except ProcessLookupError:
        pass


def _kill_group(pgid: int, signum: int) -> None:
    # The group outlives its leader only while a member is alive, so its id is still ours.
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _describe(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"signal {signal.Signals(-returncode).name}"
    return f"status {returncode}"


def web_argv(host: str, port: int) -> list[str]:
    """Gunicorn serving ``app:app``; gthread workers so htmx polling doesn't block a page."""
    script = Path(sys.executable).with_name("gunicorn")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]
    workers = min(4, max(2, os.cpu_count() or 1))
    argv = [*base, "app:app", "--bind", f"{host}:{port}", "--workers", str(workers),
            "--worker-class", "gthread", "--threads", "4", "--graceful-timeout", "5",
            "--access-logfile", "-"]
    if _gunicorn_has_control_socket():
        # Recent gunicorn listens on ~/.gunicorn/gunicorn.ctl, one path for all its instances.
        argv.append("--no-control-socket")
    return argv


def _gunicorn_has_control_socket() -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)


def build_children(host: str, port: int, workers: int) -> list[Child]:
    children = [Child("web", web_argv(host, port))]
    children += [Child(f"worker-{n}", [sys.executable, "-m", "jobs.worker"])
                 for n in range(1, workers + 1)]
    # Herald's own periodic jobs get a worker of their own: a long report never delays the
    # dispatcher tick (and so the enqueue lag of every other task).
    children.append(Child("dispatcher", [sys.executable, "-m", "jobs.worker", SYSTEM_QUEUE]))
    children.append(Child("scheduler", [sys.executable, "-m", "jobs.scheduler"]))
    return children


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 32),
              help="Number of RQ worker processes.")
@with_appcontext
def serve_command(host: str, port: int, workers: int) -> None:
    """Run the web server, RQ workers and scheduler (and Redis if REDIS_URL is unset)."""
    project_root = str(Path(current_app.root_path).parent)
    # The children get this process's environment as is (they read it through webapp.config).
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):  # web and workers report metrics together
        env["PROMETHEUS_MULTIPROC_DIR"] = str(Path(current_app.instance_path) / "metrics")
        shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)  # a fresh start
    redis = None
    if not current_app.config.get("REDIS_URL"):
        try:
            redis = EmbeddedRedis(Path(current_app.instance_path) / "redis").start()
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc
        log.info("Started the embedded Redis (pid %d) at %s", redis.pid, redis.url)
        env["REDIS_URL"] = redis.url
    supervisor = Supervisor(build_children(host, port, workers), env, project_root, redis)
    try:
        supervisor.run()
    finally:
        if redis is not None:
            redis.stop(timeout=1)
    log.info("Herald stopped")
