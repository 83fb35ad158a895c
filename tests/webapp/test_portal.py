"""The portal pages: the two-step task form, the list, run now, delete, the outbox."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import OutboxMessage, Role, Run, Task

from ..conftest import csrf_token

STEP1 = {
    "name": "Morning rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp", "sms"],
    "schedule_kind": "hourly", "schedule_time": "06:30", "schedule_every_hours": "4",
    "schedule_every_months": "1", "schedule_day": "1", "schedule_weekday": "mon",
    "timezone": "Europe/London", "inactivity_days": "14", "org_unit_ids": "", "active": "1",
}


def _post(client, url, data):
    return client.post(url, data={**data, "csrf_token": csrf_token(client, "/tasks")})


def test_create_task_in_two_steps(make_company, auth):
    company = make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    page = client.get("/tasks/new").get_data(as_text=True)
    assert "Schedule report" in page and "Configure recipients" in page
    assert "Next runs" in page  # the preview of the default schedule

    # Step 1 with a bad value: the field is named, nothing is saved.
    response = _post(client, "/tasks/new", {**STEP1, "schedule_every_hours": "5", "step": "1"})
    assert response.status_code == 422
    assert "Every X hours must be one of 1, 2, 3, 4, 6, 12." in response.get_data(as_text=True)

    # Step 1 valid: step 2 asks for recipients; "Add recipient" adds an input.
    response = _post(client, "/tasks/new", {**STEP1, "step": "1", "action": "next"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Email recipients" in page
    response = _post(client, "/tasks/new", {**STEP1, "step": "2", "action": "add_email",
                                            "emails": ["a@acme.example"]})
    assert response.get_data(as_text=True).count('type="email" name="emails"') == 2

    # Step 2 with a bad address names it; then save.
    response = _post(client, "/tasks/new", {**STEP1, "step": "2", "action": "save",
                                            "emails": ["not-an-address"]})
    assert response.status_code == 422
    assert "is not a valid email address" in response.get_data(as_text=True)
    response = _post(client, "/tasks/new", {**STEP1, "step": "2", "action": "save",
                                            "emails": ["ops@acme.example", "nobody@acme.example"]})
    assert response.status_code == 302
    task = db.session.scalar(sa.select(Task).where(Task.company_id == company.id))
    assert task.name == "Morning rooms" and task.schedule_every == 4 and task.active
    assert task.recipient_emails == ["ops@acme.example", "nobody@acme.example"]
    assert task.next_run_at is not None

    page = client.get("/tasks").get_data(as_text=True)
    assert "Morning rooms" in page and "Every 4 hours starting at 06:30" in page
    assert "scheduled" in page and "ON" in page
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "not a user of this company" in page  # recipients who cannot download


def test_edit_run_now_and_delete(make_company, auth, work, app):
    company = make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    _post(client, "/tasks/new", {**STEP1, "step": "2", "action": "save",
                                 "emails": ["admin@acme.example"]})
    task = db.session.scalar(sa.select(Task).where(Task.company_id == company.id))

    response = _post(client, f"/tasks/{task.id}/edit", {
        **STEP1, "schedule_kind": "daily", "active": "", "step": "2", "action": "save",
        "emails": ["admin@acme.example"]})
    assert response.status_code == 302
    db.session.refresh(task)
    assert task.schedule_kind == "daily" and not task.active and task.status == "inactive"
    assert task.next_run_at is None

    response = _post(client, f"/tasks/{task.id}/run", {})
    assert response.status_code == 302
    run = db.session.scalar(sa.select(Run).where(Run.task_id == task.id))
    assert response.headers["Location"] == f"/runs/{run.id}"
    assert "queued" in client.get(f"/runs/{run.id}").get_data(as_text=True)
    work()
    page = client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert "succeeded" in page and "Download" in page
    # No SMTP_URL: the email is in the outbox, with its link.
    message = db.session.scalar(sa.select(OutboxMessage))
    assert message.to_addr == "admin@acme.example"
    outbox = client.get("/admin/outbox").get_data(as_text=True)
    assert f'href="/runs/{run.id}"' in outbox  # from the message's run, not its text

    response = _post(client, f"/tasks/{task.id}/delete", {})
    assert response.status_code == 302
    assert db.session.scalar(sa.select(Task.id).where(Task.id == task.id)) is None


def test_running_task_cannot_be_edited(make_company, auth, api_token, app):
    company = make_company("Acme")
    headers = api_token(company)
    client = app.test_client()
    task = client.post("/api/v1/tasks", headers=headers, json={
        "name": "T", "report_type": "usage_by_rooms", "channels": ["sms"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": ["admin@acme.example"]}}).get_json()
    db.session.get(Task, task["id"]).status = "running"
    db.session.commit()
    response = client.patch(f"/api/v1/tasks/{task['id']}", headers=headers, json={"name": "U"})
    assert response.status_code == 409
    assert "running" in response.get_json()["error"]["message"]
    auth.login("admin@acme.example")
    page = auth.client.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert "disabled" in page
    response = auth.client.get(f"/tasks/{task['id']}/edit")
    assert response.status_code == 302


def test_login_rejects_wrong_password_and_foreign_next(make_company, auth):
    make_company("Acme")
    response = auth.login("admin@acme.example", password="wrong-password")
    assert response.status_code == 200
    assert "Email or password is not correct." in response.get_data(as_text=True)
    response = auth.login("admin@acme.example", next_path="https://evil.example/")
    assert response.headers["Location"] == "/tasks"


def test_forms_need_csrf(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    response = auth.client.post("/tasks/new", data={**STEP1, "step": "2", "action": "save",
                                                    "emails": ["a@acme.example"]})
    # The task form comes back with what was typed (test_task_form.py); nothing is saved.
    assert response.status_code == 302 and response.headers["Location"] == "/tasks/new"
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0
    response = auth.client.post("/admin/roles/new", data={"name": "No token"})  # so does this
    assert response.status_code == 302 and response.headers["Location"] == "/admin/roles/new"
    assert db.session.scalar(sa.select(sa.func.count(Role.id)).where(Role.name == "No token")) \
        == 0
    response = auth.client.post("/alerts", data={"failure_alerts": "1"})  # a form with nothing
    assert response.status_code == 400  # typed to keep: refused, said so
    assert "CSRF" in response.get_data(as_text=True)


def test_preview_without_a_time_zone_uses_the_companys(make_company, auth):
    make_company("Acme", timezone="Asia/Kolkata")
    auth.login("admin@acme.example")
    response = auth.client.get("/tasks/preview?schedule_kind=daily&schedule_time=06:30"
                               "&timezone=", headers={"HX-Request": "true"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "06:30 IST" in page and "error" not in page
