"""Operations through the real server (`flask --app app serve`: gunicorn, RQ workers, the
scheduler), with reports in an S3-compatible store (moto's server, its own process), mail to
an aiosmtpd sink, and multiprocess metrics: health, readiness, metrics with a token, a report
streamed from the store, the alert opt-in and a failed run's alert, a silent task's alert and
recovery, retention, a deleted task's files.

Set up as an operator would: the CLI in the server's environment; the few states a test
cannot wait days for (an old run, a missed instant) are written into the database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families

from jobs.embedded_redis import free_port
from tests.conftest import PASSWORD
from tests.serving import ROOT, Served

from .conftest import fresh_database

TOKEN = "metrics-token-for-the-test"
WAIT = 60  # seconds for anything the workers or the tick do (housekeeping: every 10 s)


class Ops:
    def __init__(self, served: Served, env: dict, bucket: str, s3, engine: sa.Engine):
        self.served, self.env, self.bucket, self.s3, self.db = served, env, bucket, s3, engine
        self.url = f"http://127.0.0.1:{served.port}"

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 0, f"flask {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def sql(self, statement: str, **params):
        with self.db.begin() as conn:
            return conn.execute(sa.text(statement), params)

    def keys(self) -> list[str]:
        return sorted(o["Key"] for o in self.s3.client().list_objects_v2(
            Bucket=self.bucket).get("Contents", []))

    def wait(self, what: str, check, timeout: float = WAIT):
        deadline = time.monotonic() + timeout
        while not (result := check()):
            assert time.monotonic() < deadline, f"{what} within {timeout} s:\n{self.served.log()}"
            time.sleep(0.3)
        return result


@pytest.fixture(scope="module")
def ops(tmp_path_factory, smtp_server, s3_server) -> Iterator[Ops]:
    tmp = tmp_path_factory.mktemp("ops")
    controller, _ = smtp_server
    bucket = s3_server.new_bucket()
    env = {k: v for k, v in os.environ.items()
           if k not in {"FLASK_DEBUG", "REDIS_URL", "DATABASE_URL", "FLASK_APP"}}
    env.update(s3_server.env)
    database = fresh_database(tmp, "ops")
    env.update(SECRET_KEY="test-ops-secret-key-0123456789abcdef",
               HERALD_ENCRYPTION_KEY=Fernet.generate_key().decode(), DATABASE_URL=database,
               REPORTS_DIR=str(tmp / "scratch"), REPORT_STORAGE_URL=f"s3://{bucket}/herald",
               REPORT_RETENTION_DAYS="30", METRICS_TOKEN=TOKEN,
               SMTP_URL=f"smtp://{controller.hostname}:{controller.port}",
               MAIL_FROM="Herald <reports@herald.example>", ALLOW_PRIVATE_TARGETS="1",
               PYTHONUNBUFFERED="1")
    upgrade = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                             check=False)
    assert upgrade.returncode == 0, upgrade.stderr
    served = Served(env, tmp / "serve.log")
    engine = sa.create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        served.wait_for_login_page()
        yield Ops(served, env, bucket, s3_server, engine)
    finally:
        served.stop()
        engine.dispose()
        log = (tmp / "serve.log").read_text(errors="replace")
        # A failed job's traceback is RQ's record of it; a request that failed is a bug.
        assert "Exception on /" not in log, log[-8000:]


@pytest.fixture(scope="module")
def acme(ops):
    slug = ops.cli("companies", "create", "Ops Bank", "--timezone", "Europe/London",
                   "--admin-email", "admin@ops.example", "--admin-password", PASSWORD).strip()
    ops.cli("users", "create", "--company", slug, "--email", "editor@ops.example",
            "--password", PASSWORD, "--role", "company-admin")
    token = ops.cli("users", "token", "--company", slug, "admin@ops.example").split()[-1]
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    return slug, api


def metric(text: str, name: str, **labels) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return 0.0


def portal(ops, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{ops.url}/login", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = session.post(f"{ops.url}/login", data={"email": email, "password": PASSWORD,
                                                     "csrf_token": token}, timeout=30)
    assert answer.ok and "/login" not in answer.url, answer.text[:500]
    return session


def run_now(ops, api, task_id: int) -> dict:
    run = api.post(f"{ops.url}/api/v1/tasks/{task_id}/runs", timeout=30).json()
    return ops.wait(f"run {run['id']} finished", lambda: (
        r := api.get(f"{ops.url}/api/v1/runs/{run['id']}", timeout=30).json())["status"]
        not in ("queued", "running") and r)


def test_health_readiness_and_metrics(ops):
    assert requests.get(f"{ops.url}/healthz", timeout=10).status_code == 200
    ready = ops.wait("ready", lambda: (r := requests.get(f"{ops.url}/readyz", timeout=10))
                     .status_code == 200 and r)
    assert ready.json() == {"status": "ready"}
    assert requests.get(f"{ops.url}/metrics", timeout=10).status_code == 401
    answer = requests.get(f"{ops.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=10)
    assert answer.status_code == 200
    assert "herald_queue_depth{queue=\"reports\"}" in answer.text
    # Labelled counters appear with their first sample (the next test); histograms at once.
    for family in ("herald_dispatch_lag_seconds", "herald_report_build_seconds"):
        assert f"# TYPE {family} histogram" in answer.text, family


def test_a_report_is_stored_in_s3_streamed_counted_and_deleted_with_its_task(
        ops, acme, smtp_server):
    slug, api = acme
    _, mailbox = smtp_server
    task = api.post(f"{ops.url}/api/v1/tasks", timeout=30, json={
        "name": "Rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": ["ops@ops.example"]}}).json()
    run = run_now(ops, api, task["id"])
    assert run["status"] == "succeeded", run
    key = f"herald/{slug}/{run['id']}/{run['file_name']}"
    assert key in ops.keys()
    stored = ops.s3.client().get_object(Bucket=ops.bucket, Key=key)["Body"].read()
    download = portal(ops, "admin@ops.example").get(f"{ops.url}/runs/{run['id']}/download",
                                                    timeout=30)
    assert download.status_code == 200 and download.content == stored
    assert stored.startswith(b"company,")
    # Counted in the worker, read through gunicorn: one set of metrics for every process.
    text = requests.get(f"{ops.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=10).text
    assert metric(text, "herald_runs_total", status="succeeded") >= 1
    assert metric(text, "herald_deliveries_total", kind="email", status="sent") >= 1
    assert metric(text, "herald_report_build_seconds_count") >= 1

    assert api.delete(f"{ops.url}/api/v1/tasks/{task['id']}", timeout=30).status_code == 204
    assert key not in ops.keys()


def test_opt_in_then_a_failed_run_alerts_owner_and_editor(ops, acme, smtp_server):
    slug, api = acme
    _, mailbox = smtp_server
    editor = portal(ops, "editor@ops.example")
    page = editor.get(f"{ops.url}/tasks", timeout=30).text
    assert 'id="alerts"' in page
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    saved = editor.post(f"{ops.url}/alerts", data={"failure_alerts": "1", "csrf_token": csrf},
                        timeout=30)
    assert saved.ok and "You will get an email when a run fails" in saved.text
    assert "checked" in editor.get(f"{ops.url}/tasks", timeout=30).text.split('id="alerts"')[1]

    task = api.post(f"{ops.url}/api/v1/tasks", timeout=30, json={
        "name": "Health upload", "report_type": "native_connection_status",
        "channels": ["whatsapp"], "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": [], "server": {
            "transport": "ftp", "host": "127.0.0.1", "port": free_port(), "username": "u",
            "password": "p", "directory": "/"}}}).json()
    assert "id" in task, task
    run = run_now(ops, api, task["id"])
    assert run["status"] == "failed", run
    subject = "[Ops Bank] Health upload: run failed"

    def alerted() -> list[str]:
        return sorted(r for rcpts, m in list(mailbox.messages) if m["Subject"] == subject
                      for r in rcpts)

    ops.wait("the failure alerts", lambda: len(alerted()) >= 2)
    time.sleep(2)  # and no more
    assert alerted() == ["admin@ops.example", "editor@ops.example"]  # owner, opted-in editor


def test_a_silent_task_alerts_then_recovers(ops, acme, smtp_server):
    slug, api = acme
    _, mailbox = smtp_server
    task = api.post(f"{ops.url}/api/v1/tasks", timeout=30, json={
        "name": "Quiet", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": ["ops@ops.example"]}}).json()
    # Its run due two hours ago was dispatched and never succeeded.
    due = datetime.now(UTC) - timedelta(hours=2)
    ops.sql("UPDATE tasks SET success_due_at = :due, watermark = :due WHERE id = :id",
            due=due.replace(tzinfo=None), id=task["id"])
    ops.wait("the silent-task alert", lambda: [
        m for _, m in list(mailbox.messages) if m["Subject"] == "[Ops Bank] Quiet: silent task"])
    # A scheduled run succeeds (made due now by moving the task's next instant).
    ops.sql("UPDATE tasks SET next_run_at = :now WHERE id = :id",
            now=datetime.now(UTC).replace(tzinfo=None), id=task["id"])
    ops.wait("the recovered alert", lambda: [
        m for _, m in list(mailbox.messages) if m["Subject"] == "[Ops Bank] Quiet: recovered"],
        timeout=90)
    silent = sorted(r for rcpts, m in list(mailbox.messages)
                    if m["Subject"].endswith("Quiet: silent task") for r in rcpts)
    # Once to each (the owner, the editor who opted in), however many ticks saw it silent.
    assert silent == ["admin@ops.example", "editor@ops.example"]


def test_retention_expires_old_reports(ops, acme):
    slug, api = acme
    task = api.post(f"{ops.url}/api/v1/tasks", timeout=30, json={
        "name": "Old", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": ["ops@ops.example"]}}).json()
    run = run_now(ops, api, task["id"])
    key = f"herald/{slug}/{run['id']}/{run['file_name']}"
    assert key in ops.keys()
    ops.sql("UPDATE runs SET finished_at = :old WHERE id = :id", id=run["id"],
            old=(datetime.now(UTC) - timedelta(days=31)).replace(tzinfo=None))
    expired = ops.wait("the run expired", lambda: (r := api.get(
        f"{ops.url}/api/v1/runs/{run['id']}", timeout=30).json())["status"] == "expired" and r)
    assert expired["file_name"] == run["file_name"]  # its history stays
    assert key not in ops.keys()
    page = portal(ops, "admin@ops.example").get(f"{ops.url}/runs/{run['id']}", timeout=30)
    assert "retention period (30 days)" in page.text
    gone = api.get(f"{ops.url}/api/v1/runs/{run['id']}/csv", timeout=30)
    assert gone.status_code == 404
