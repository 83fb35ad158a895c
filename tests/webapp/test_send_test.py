"""Send test (issue 12), in process: the report built now and emailed only to the admin who
pressed it; no watermark moved, no other recipient, no upload; marked "test" in the run
history and never anyone's last run. (Through the real server: tests/e2e/test_send_test_live.py;
in the browser: tests/e2e/browser/test_task_actions.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from jobs import alerts, reaper
from webapp.extensions import db
from webapp.models import AuditEvent, Delivery, OutboxMessage, Run, User
from webapp.services import send_test
from webapp.services import tasks as task_service
from webapp.services.people import create_user

from ..conftest import PASSWORD
from ..jobs.test_delivery_servers import make_task, server_payload
from .test_portal import _post

ADMIN = "admin@acme.example"
OTHERS = ["ops@acme.example", "cfo@acme.example"]


def _admin() -> User:
    return db.session.scalar(sa.select(User).where(User.email_key == ADMIN))


def test_send_test_mails_only_the_admin_and_moves_nothing(app, make_company, auth, work,
                                                          ftp_server, api_token):
    company = make_company("Acme")
    task = make_task(company, server_payload(ftp_server, "ftp"), emails=OTHERS)
    before = (task.watermark, task.next_run_at, task.series_start, task.success_due_at)
    auth.login(ADMIN)
    client = auth.client
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert f'action="/tasks/{task.id}/send-test" class="inline" data-once' in page

    first = _post(client, f"/tasks/{task.id}/send-test", {})
    second = _post(client, f"/tasks/{task.id}/send-test", {})  # a double press: the same run
    [run] = db.session.scalars(sa.select(Run)).all()
    assert first.headers["Location"] == second.headers["Location"] == f"/runs/{run.id}"
    assert run.trigger == "test"
    assert [(d.kind, d.target) for d in run.deliveries] == [("email", ADMIN)]
    work()

    db.session.expire_all()
    run = db.session.get(Run, run.id)
    assert run.status == "succeeded", run.error
    assert [(d.kind, d.target, d.status) for d in run.deliveries] == [("email", ADMIN, "sent")]
    mails = db.session.scalars(sa.select(OutboxMessage)).all()
    assert [m.to_addr for m in mails] == [ADMIN]
    assert mails[0].subject.startswith("[Acme] Test: Health check")
    assert "sent only to you" in mails[0].text_body
    assert ftp_server.files() == {}  # no upload
    task = db.session.get(type(task), task.id)
    assert (task.watermark, task.next_run_at, task.series_start, task.success_due_at) == before
    assert task.status == "scheduled"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "task.send_test"))
    assert event.target_id == task.id and event.details == {"run_id": run.id, "to": ADMIN}

    # Marked "test" in the history (portal and API); not the task's last run.
    assert "Send test: emailed only to admin@acme.example" in \
        client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert '<span class="badge test">Test</span>' in \
        client.get(f"/tasks/{task.id}").get_data(as_text=True)
    api = app.test_client()
    headers = api_token(company)
    runs = api.get(f"/api/v1/tasks/{task.id}/runs", headers=headers).json["runs"]
    assert [r["trigger"] for r in runs] == ["test"]
    only = api.get(f"/api/v1/tasks/{task.id}/runs?trigger=test", headers=headers).json["runs"]
    assert [r["id"] for r in only] == [run.id]
    assert api.get(f"/api/v1/tasks/{task.id}", headers=headers).json["last_run"] is None
    listed = api.get("/api/v1/tasks", headers=headers).json["tasks"]
    assert listed[0]["last_run"] is None

    # Run now's window is what it was before the test: it starts where the schedule does.
    manual = task_service.run_now(task, datetime.now(UTC))
    assert manual.window_start == run.window_start


def test_a_test_run_is_not_alerted_not_a_success_and_not_in_my_reports(make_company, work,
                                                                       auth):
    company = make_company("Acme")
    create_user(company, OTHERS[0], password=PASSWORD)
    db.session.commit()
    task = make_task(company, None, emails=OTHERS)
    run = send_test.send_test(task, _admin(), datetime.now(UTC))
    work()
    db.session.expire_all()
    run = db.session.get(Run, run.id)
    now = datetime.now(UTC)
    assert run.status == "succeeded"
    # A scheduled success would move success_due_at and clear a silence; a test does neither.
    task.silent_since = now - timedelta(hours=1)
    db.session.commit()
    assert alerts.check_silent_tasks(now, timedelta(minutes=30))["recovered"] == []
    run.status, run.alerted_at = "failed", None
    db.session.commit()
    assert alerts.alert_failed_runs(now) == []  # its page tells the one who asked
    auth.login(OTHERS[0])
    page = auth.client.get("/my/reports").get_data(as_text=True)
    assert f"/runs/{run.id}" not in page


def test_a_test_run_whose_worker_died_is_retried_to_the_same_admin(app, make_company):
    company = make_company("Acme")
    task = make_task(company, None, emails=OTHERS)
    now = datetime.now(UTC)
    run = send_test.send_test(task, _admin(), now)
    run.status, run.started_at = "running", now - timedelta(hours=1)
    run.heartbeat_at = now - timedelta(hours=1)
    db.session.commit()
    [again_id] = reaper.reap(now, timedelta(minutes=1))
    again = db.session.get(Run, again_id)
    assert again.trigger == "test"
    assert [(d.kind, d.target, d.status) for d in again.deliveries] == [
        ("email", ADMIN, "pending")]
    assert db.session.scalar(sa.select(sa.func.count(Delivery.id)).where(
        Delivery.target.in_(OTHERS))) == 0


def test_send_test_needs_the_csrf_token(make_company, auth):
    company = make_company("Acme")
    task = make_task(company, None, emails=OTHERS)
    auth.login(ADMIN)
    answer = auth.client.post(f"/tasks/{task.id}/send-test", data={})
    assert answer.status_code in (400, 302) and "/runs/" not in answer.headers.get(
        "Location", "")
    assert db.session.scalar(sa.select(sa.func.count(Run.id))) == 0
