"""``flask --app app serve``: web server, RQ workers and scheduler under one supervisor.

Each part of webapp/processes.py runs as a child process in its own process group, with the
same environment. When ``REDIS_URL`` is unset an embedded Redis is started first and handed to
the children. A child that dies unexpectedly is restarted after a short backoff.

It listens on ``--host``/``--port``, else ``HOST``/``PORT`` (webapp/config.py). Without
``BASE_URL`` the children get that address's URL as ``BASE_URL``, so links in emails and the
SSO redirect URI name the port really served.

SIGTERM or SIGINT: every child is asked to stop; a report in progress has ``SHUTDOWN_GRACE``
seconds to finish, then it is interrupted and queued again (jobs/worker.py); whatever is left
``STOP_MARGIN`` seconds after that is killed. A second signal cuts the grace short.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from jobs.embedded_redis import EmbeddedRedis, die_with_parent
from jobs.shutdown import CUT_AFTER

from . import config as herald_config
from . import logs
from .processes import PROCESSES, check_port_free

log = logging.getLogger("herald.serve")

TICK = 0.2  # seconds between two looks at the children
BACKOFF_START, BACKOFF_MAX = 1.0, 30.0  # seconds before restarting a child that died
STABLE_AFTER = 30.0  # a child that ran this long before dying restarts without backoff
# After the grace: the interrupt, CUT_AFTER for the job to stop, then the worker puts
# its run back in the queue. What still runs then is killed. (A platform's SIGKILL comes 30 s
# after its SIGTERM: 25 s of grace + 4.5 s.)
STOP_MARGIN = CUT_AFTER + 1.5


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
                 redis: EmbeddedRedis | None = None, grace: float = 25.0,
                 announce: Announcement | None = None) -> None:
        self.children = children
        self.env = env
        self.cwd = cwd
        self.redis = redis
        self.grace = grace
        self.announce = announce
        self.stopping = False
        self.hurry = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self.stopping:
            log.info("Received %s: stopping every process; a report in progress has %g s to "
                     "finish (send %s again to interrupt it now: it is queued again)",
                     name, self.grace, name)
            self.stopping = True
        elif not self.hurry:
            log.info("Received %s again: interrupting the reports in progress", name)
            self.hurry = True

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
                if self.announce is not None and self.announce.ready():
                    log.info("%s", self.announce.message)
                    self.announce = None
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
        """SIGTERM each child; wait for the grace and the margin (a second SIGTERM to the
        workers when asked to hurry); then SIGKILL what is left, and stop Redis."""
        start = time.monotonic()
        live = [child.process for child in self.children if child.alive]
        for process in live:
            _signal_leader(process, signal.SIGTERM)
        hurried = False
        while any(process.poll() is None for process in live):
            if time.monotonic() - start >= self.grace + STOP_MARGIN:
                break
            if self.hurry and not hurried:
                for process in live:
                    if process.poll() is None:
                        _signal_leader(process, signal.SIGTERM)
                hurried = True
            time.sleep(0.05)
        for child in self.children:
            if child.process is None:
                continue
            _kill_group(child.process.pid, signal.SIGKILL)
            if child.process.poll() is None:
                log.warning("%s (pid %d) did not stop in time: killed", child.name,
                            child.process.pid)
                child.process.kill()
            child.process.wait()
            log.info("Stopped %s (pid %d)", child.name, child.process.pid)
        if self.redis is not None:
            self.redis.stop(timeout=2)
            log.info("Stopped the embedded Redis")


@dataclass
class Announcement:
    """A message logged once the web server accepts connections."""

    host: str
    port: int
    message: str

    def ready(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                return True
        except OSError:
            return False


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


def build_children(host: str, port: int, workers: int) -> list[Child]:
    """One child per process of webapp/processes.py (``workers`` of the scaled one); the web
    server listens on ``host:port``."""
    children = []
    for process in PROCESSES:
        argv = process.argv()
        if process.name == "web":
            argv += ["--bind", f"{host}:{port}"]
        count = workers if process.scaled else 1
        children += [Child(f"{process.name}-{n}" if count > 1 else process.name, argv)
                     for n in range(1, count + 1)]
    return children


@click.command("serve")
@click.option("--host", default=None,
              help="Address to listen on.  [default: HOST, else 127.0.0.1; 0.0.0.0 when PORT "
                   "is set]")
@click.option("--port", default=None, type=click.IntRange(1, 65535),
              help="Port to listen on.  [default: PORT, else 5000]")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 32),
              help="Number of RQ worker processes for reports.")
@with_appcontext
def serve_command(host: str | None, port: int | None, workers: int) -> None:
    """Run the web server, RQ workers and scheduler (and Redis if REDIS_URL is unset)."""
    config = current_app.config
    logs.configure(config["LOG_FORMAT"], config["LOG_LEVEL"])
    host, port = herald_config.listen_address(config, host, port)
    check_port_free(host, port)
    project_root = str(Path(current_app.root_path).parent)
    # The children get this process's environment (they read it through webapp.config).
    env = {**herald_config.process_environ(), "PYTHONUNBUFFERED": "1"}
    url = herald_config.url_of(host, port)
    if config["BASE_URL_SET"]:
        message = f"Herald is up: {url}/login (links in emails use {config['BASE_URL']})"
    else:
        env["BASE_URL"] = url
        message = f"Herald is up: {url}/login"
        log.log(logging.INFO if config["DEBUG_MODE"] else logging.WARNING,
                "BASE_URL is not set: links in emails and the SSO redirect URI use %s, the "
                "address Herald listens on, which recipients elsewhere cannot reach. Set "
                "BASE_URL to the portal's public URL.", url)
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):  # web and workers report metrics together
        env["PROMETHEUS_MULTIPROC_DIR"] = str(Path(current_app.instance_path) / "metrics")
        shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)  # a fresh start
    redis = None
    if not config.get("REDIS_URL"):
        try:
            redis = EmbeddedRedis(Path(current_app.instance_path) / "redis").start()
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc
        log.info("Started the embedded Redis (pid %d) at 127.0.0.1:%d (password-protected)",
                 redis.pid, redis.port)
        env["REDIS_URL"] = redis.url
    supervisor = Supervisor(build_children(host, port, workers), env, project_root, redis,
                            grace=config["SHUTDOWN_GRACE"],
                            announce=Announcement(herald_config.reachable_host(host), port,
                                                  message))
    try:
        supervisor.run()
    finally:
        if redis is not None:
            redis.stop(timeout=1)
    log.info("Herald stopped")
