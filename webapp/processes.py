"""Herald's process set, defined once: ``serve`` runs it as children of one supervisor, the
Procfile as separate processes (tests/test_processes.py checks that the two agree).
"""

from __future__ import annotations

import errno
import shlex
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from jobs.queue import REPORTS_QUEUE, SYSTEM_QUEUE

RELEASE = "flask --app app db upgrade"  # the Procfile's release phase: migrations


@dataclass(frozen=True)
class Process:
    """One kind of process: its name and command line as the Procfile writes them."""

    name: str
    command: tuple[str, ...]
    scaled: bool = False  # `serve --workers N` runs N of them
    about: str = ""

    @property
    def procfile_line(self) -> str:
        return f"{self.name}: {shlex.join(self.command)}"

    def argv(self) -> list[str]:
        """The command with this interpreter's python and gunicorn (those of the venv)."""
        program, *rest = self.command
        if program == "python":
            return [sys.executable, *rest]
        script = Path(sys.executable).with_name(program)
        return [str(script), *rest] if script.exists() else [sys.executable, "-m", program,
                                                              *rest]


PROCESSES = (
    Process("web", ("gunicorn", "-c", "python:webapp.gunicorn_conf", "app:app"),
            about="the portal and the API (gunicorn; settings in webapp/gunicorn_conf.py)"),
    Process("worker", ("python", "-m", "jobs.worker", REPORTS_QUEUE), scaled=True,
            about="builds and delivers reports; scale as needed"),
    # Herald's own periodic jobs get a worker of their own: a long report never delays the
    # dispatcher tick (and so the enqueue lag of every other task).
    Process("system", ("python", "-m", "jobs.worker", SYSTEM_QUEUE),
            about="runs the dispatcher tick; one is enough"),
    Process("scheduler", ("python", "-m", "jobs.scheduler"),
            about="enqueues the dispatcher tick every DISPATCH_INTERVAL seconds"),
)


def procfile() -> str:
    """The Procfile's text: the release phase, then every process."""
    return "\n".join([f"release: {RELEASE}", *(p.procfile_line for p in PROCESSES)]) + "\n"


def check_port_free(host: str, port: int) -> None:
    """Fail now, with what to do, rather than have gunicorn fail and restart forever."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            taken = exc.errno == errno.EADDRINUSE
            raise click.ClickException(
                f"Cannot listen on {host}:{port}: "
                + ("the port is in use (another Herald?). Choose another: PORT=5001 make run, "
                   "or flask --app app serve --port 5001." if taken else str(exc))) from None
