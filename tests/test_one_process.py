"""One-process deployment as a platform runs it: `flask --app app serve` with only PORT,
DATABASE_URL and REDIS_URL set (no flags), reached on that port, report emails linking to it,
and SIGTERM in the middle of a run: the run finishes within SHUTDOWN_GRACE, or is interrupted
and queued again at once — with exactly one email per recipient either way."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet

from jobs.embedded_redis import EmbeddedRedis, free_port
from webapp.serve import STOP_MARGIN

from .serving import (
    STOP_BUDGET,
    Served,
    SlowSink,
    api,
    clean_environ,
    engine_for,
    flask,
    scratch_database,
)

RECIPIENTS = ["ana@acme.example", "ben@acme.example", "cy@acme.example"]
HOLD = 2.0  # seconds the SMTP sink takes over each message


@dataclass
class Platform:
    """What a platform gives the dyno (PORT, add-ons' DATABASE_URL and REDIS_URL), plus the
    secrets and SMTP server an operator sets; a company and an API token made by the CLI."""

    env: dict[str, str]
    sink: SlowSink
    db: sa.Engine
    token: str
    tmp: Path

    @property
    def port(self) -> int:
        return int(self.env["PORT"])

    def serve(self, name: str, **extra: str) -> Served:
        # Only the environment: no --host, no --port.
        served = Served({**self.env, **extra}, self.tmp / f"{name}.log", self.port,
                        argv=_flask_serve())
        served.wait_for_login_page()
        return served

    def run_row(self, run_id: int) -> dict:
        with self.db.connect() as conn:
            return dict(conn.execute(sa.text("SELECT status, error FROM runs WHERE id = :id"),
                                     {"id": run_id}).mappings().one())

    def deliveries(self, run_id: int) -> dict[str, tuple[str, int]]:
        with self.db.connect() as conn:
            rows = conn.execute(sa.text("SELECT target, status, attempts FROM deliveries "
                                        "WHERE run_id = :id"), {"id": run_id}).all()
        return {target: (status, attempts) for target, status, attempts in rows}


def _flask_serve() -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "app", "serve"]


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    sink = SlowSink(HOLD)
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    # A Redis of the test's own, never the machine's.
    with EmbeddedRedis(tmp_path / "redis") as redis_server, \
            scratch_database(tmp_path) as database_url:
        env = clean_environ(
            PORT=str(free_port()), DATABASE_URL=database_url, REDIS_URL=redis_server.url,
            SECRET_KEY="one-process-secret-key-0123456789abcdef",
            HERALD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
            SMTP_URL=f"smtp://127.0.0.1:{smtp.port}", REPORTS_DIR=str(tmp_path / "reports"))
        for args in (["db", "upgrade"],
                     ["companies", "create", "Acme Bank", "--timezone", "Europe/London",
                      "--admin-email", "admin@acme.example", "--admin-password",
                      "long enough password"]):
            done = flask(args, env)
            assert done.returncode == 0, done.stdout + done.stderr
        token = flask(["users", "token", "--company", "acme-bank", "admin@acme.example"], env)
        assert token.returncode == 0, token.stderr
        engine = engine_for(database_url)
        try:
            yield Platform(env, sink, engine, token.stdout.strip(), tmp_path)
        finally:
            engine.dispose()
            smtp.stop()


def start_run(platform: Platform, served: Served) -> int:
    status, task = api(served, "POST", "/tasks", platform.token, {
        "name": "Rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:00"}, "recipients": {"emails": RECIPIENTS}})
    assert status == 201, task
    status, run = api(served, "POST", f"/tasks/{task['id']}/runs", platform.token)
    assert status == 202, run
    assert platform.sink.arrived.wait(60), f"no email reached the SMTP server:\n{served.log()}"
    return run["id"]


def stop(served: Served, budget: float) -> float:
    """SIGTERM to serve, as a platform sends it; the seconds it took to exit (status 0)."""
    started = time.monotonic()
    served.process.terminate()
    served.process.wait(timeout=budget + 10)
    took = time.monotonic() - started
    assert served.process.returncode == 0, f"exit status {served.process.returncode}:\n" + \
        served.log()
    # No worker had to be killed: each finished its job, or put it back, in time. (On a
    # loaded machine gunicorn may be slow to exit: its kill would be harmless.)
    assert not re.search(r"(worker|system)\S* \(pid \d+\) did not stop", served.log()), \
        served.log()
    return took


def test_serve_on_platform_port_finishes_the_run_in_flight_on_sigterm(platform):
    served = platform.serve("serve")
    try:
        # The address it really serves is in the links and the SSO redirect URI.
        status, sso = api(served, "GET", "/sso", platform.token)
        assert status == 200
        assert sso["redirect_uri"].startswith(f"http://127.0.0.1:{platform.port}/sso/")
        assert "BASE_URL is not set" in served.log()  # loud, outside debug mode
        assert f"Herald is up: http://127.0.0.1:{platform.port}/login" in served.log()
        assert "0.0.0.0:" in served.log()  # PORT without HOST: the platform's router reaches it

        run_id = start_run(platform, served)
        took = stop(served, 25 + STOP_MARGIN)
    finally:
        served.stop()

    assert took < len(RECIPIENTS) * HOLD + STOP_BUDGET, f"took {took:.1f} s:\n{served.log()}"
    assert platform.run_row(run_id)["status"] == "succeeded"
    assert platform.sink.recipients() == RECIPIENTS  # exactly one email each
    for _, message in platform.sink.messages:
        body = message.get_body(("plain",)).get_content()
        assert f"http://127.0.0.1:{platform.port}/runs/{run_id}" in body, body


def test_a_run_over_its_grace_is_interrupted_requeued_and_resumed_without_a_second_email(
        platform):
    grace = 1.0  # shorter than the first email takes: the stop comes during a send
    served = platform.serve("first", SHUTDOWN_GRACE=str(grace))
    try:
        run_id = start_run(platform, served)
        took = stop(served, grace + STOP_MARGIN)
    finally:
        served.stop()

    # Within the grace and its margin (no worker killed, checked by stop()), plus slack for
    # the processes' exit on a loaded machine.
    assert took < grace + STOP_MARGIN + STOP_BUDGET, f"took {took:.1f} s:\n{served.log()}"
    run = platform.run_row(run_id)
    assert run["status"] == "queued", (run, served.log())
    assert "Interrupted" in run["error"] and "SHUTDOWN_GRACE" in run["error"]
    # The send in progress was let finish and recorded; nothing else was started.
    assert platform.deliveries(run_id) == {
        RECIPIENTS[0]: ("sent", 1), RECIPIENTS[1]: ("pending", 0),
        RECIPIENTS[2]: ("pending", 0)}
    assert platform.sink.recipients() == RECIPIENTS[:1]

    served = platform.serve("second")
    try:
        deadline = time.monotonic() + 60
        while platform.run_row(run_id)["status"] != "succeeded":
            assert time.monotonic() < deadline, f"not resumed:\n{served.log()}"
            time.sleep(0.2)
    finally:
        served.stop()
    assert platform.sink.recipients() == RECIPIENTS  # one email per recipient, in all
    assert {d[0] for d in platform.deliveries(run_id).values()} == {"sent"}
    assert platform.run_row(run_id)["error"] is None
    links = {re.search(r"http://\S+/runs/\d+", m.get_body(("plain",)).get_content()).group(0)
             for _, m in platform.sink.messages}
    assert links == {f"http://127.0.0.1:{platform.port}/runs/{run_id}"}
