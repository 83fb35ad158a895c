"""The task form and a task's actions, in process (issue 12's items; the browser tests in
tests/e2e/browser/test_task_form.py drive the same through the real server)."""

from __future__ import annotations

import re

import sqlalchemy as sa

from jobs.delivery import settings as server_settings
from webapp.extensions import db
from webapp.models import Run, Task
from webapp.services import tasks as task_service

from ..conftest import Auth, csrf_token
from .test_portal import STEP1, _post

HEALTH = {**STEP1, "report_type": "native_connection_status", "channels": ["whatsapp"],
          "schedule_kind": "daily"}


def _first_submit(page: str) -> str:
    """The action of the form's first submit button: what Enter in a text field presses."""
    form = page[page.index('id="task-form"'):]
    button = re.search(r'<button type="submit"[^>]*value="([^"]*)"', form)
    return button.group(1)


def test_enter_presses_next_in_step_1_and_save_in_step_2(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    assert _first_submit(client.get("/tasks/new").get_data(as_text=True)) == "next"
    page = _post(client, "/tasks/new", {**STEP1, "step": "1", "action": "add_email",
                                        "emails": ["first@acme.example"]})
    text = page.get_data(as_text=True)
    assert text.count('name="emails"') >= 2 and _first_submit(text) == "save"
    # What Enter sends in row 2: both addresses are saved, none removed.
    response = _post(client, "/tasks/new", {**STEP1, "step": "2", "action": "save",
                                            "emails": ["first@acme.example",
                                                       "second@acme.example"]})
    assert response.status_code == 302
    task = db.session.scalar(sa.select(Task))
    assert sorted(task.recipient_emails) == ["first@acme.example", "second@acme.example"]


def test_a_second_run_now_starts_nothing(app, make_company, auth, api_token):
    company = make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    _post(client, "/tasks/new", {**STEP1, "step": "2", "action": "save",
                                 "emails": ["admin@acme.example"]})
    task = db.session.scalar(sa.select(Task).where(Task.company_id == company.id))
    first = _post(client, f"/tasks/{task.id}/run", {})
    run_id = db.session.scalar(sa.select(Run.id).where(Run.task_id == task.id))
    assert first.headers["Location"] == f"/runs/{run_id}"
    second = _post(client, f"/tasks/{task.id}/run", {})  # the portal shows the same run
    assert second.headers["Location"] == f"/runs/{run_id}"
    # an API client of its own (a bearer token beside a session cookie is the session's)
    answer = app.test_client().post(f"/api/v1/tasks/{task.id}/runs",
                                    headers=api_token(company))
    assert answer.status_code == 409
    assert answer.json["error"]["code"] == "run_pending"
    assert answer.json["error"]["run_id"] == run_id
    assert db.session.scalar(sa.select(sa.func.count(Run.id))) == 1
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "data-once" in page  # the Run now button disables itself when clicked


def test_fields_follow_the_report_type_and_the_repeat(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    wecom = client.get("/tasks/channels", query_string={
        "report_type": "wecom_irregularities", "channels": "whatsapp"}).get_data(as_text=True)
    assert re.findall(r'name="channels" value="(\w+)"', wecom) == ["wecom"]
    assert "Org unit ids" in wecom and "Inactivity threshold" not in wecom
    inactivity = client.get("/tasks/channels", query_string={
        "report_type": "whatsapp_inactivity"}).get_data(as_text=True)
    assert "Inactivity threshold" in inactivity and "Org unit ids" not in inactivity
    for kind, shown, hidden in [
            ("hourly", ["Every X hours"], ["Weekday", "Day of month"]),
            ("weekly", ["Weekday"], ["Every X hours", "Day of month"]),
            ("monthly", ["Every X months", "Day of month"], ["Every X hours", "Weekday"]),
            ("daily", [], ["Every X hours", "Weekday", "Day of month"])]:
        part = client.get("/tasks/schedule-fields", query_string={
            "schedule_kind": kind, "schedule_day": "17"}).get_data(as_text=True)
        assert all(label in part for label in shown), kind
        assert not any(label in part for label in hidden), kind
        assert 'name="schedule_day" value="17"' in part  # kept, hidden when not monthly
    # Without JavaScript: a channel of the type chosen before is not held against the user.
    response = _post(client, "/tasks/new", {
        **STEP1, "report_type": "wecom_irregularities", "channels": ["whatsapp", "wecom"],
        "step": "1", "action": "next"})
    assert response.status_code == 200 and "not available" not in response.get_data(True)
    assert "Email recipients" in response.get_data(as_text=True)


def test_errors_stand_once_at_their_field_and_are_marked(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    response = _post(client, "/tasks/new", {**STEP1, "schedule_every_hours": "5",
                                            "step": "1", "action": "next"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    message = "Every X hours must be one of 1, 2, 3, 4, 6, 12."
    assert page.count(message) == 1
    select = page.index('<select name="schedule_every_hours"')
    assert select < page.index(message) < page.index('name="schedule_time"')
    assert re.search(r'<select name="schedule_every_hours" aria-invalid="true" '
                     r'aria-describedby="error-schedule-every"', page)
    assert 'id="error-schedule-every"' in page
    monthly = _post(client, "/tasks/new", {**STEP1, "schedule_kind": "monthly",
                                           "schedule_every_months": "13", "step": "1"})
    page = monthly.get_data(as_text=True)
    message = "Every X months must be a whole number from 1 to 12."
    assert page.count(message) == 1
    assert page.index('name="schedule_every_months"') < page.index(message) < \
        page.index('name="schedule_day"')


def test_an_invalid_recipient_is_not_also_said_to_get_the_email(make_company, auth):
    """An address that is not one is marked invalid only, never "Cannot download: … the
    address gets the email only" as well; a valid address that is no user still is."""
    make_company("Acme")
    auth.login("admin@acme.example")
    response = _post(auth.client, "/tasks/new", {
        **STEP1, "step": "2", "action": "save",
        "emails": ["not-an-address", "stranger@elsewhere.example"]})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "“not-an-address” is not a valid" in page
    assert page.count("Cannot download:") == 1
    assert page.index("stranger@elsewhere.example") < page.index("Cannot download:")


def test_test_connection_marks_its_fields(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    response = _post(client, "/tasks/new", {**HEALTH, "step": "2", "action": "test_connection",
                                            "server_transport": "sftp", "server_host": ""})
    page = response.get_data(as_text=True)
    assert "Host is required." in page
    assert re.search(r'name="server_host" value="" autocomplete="off" aria-invalid="true"',
                     page)
    assert "correct the settings marked above" in page
    fragment = client.post("/tasks/new", headers={"HX-Request": "true"}, data={
        **HEALTH, "csrf_token": csrf_token(client, "/tasks"), "step": "2",
        "action": "test_connection", "server_transport": "ftp"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<fieldset id="server"')
    assert 'aria-describedby="error-recipients-server-host"' in fragment
    assert "Trusted host key" not in fragment  # SFTP only


def test_secrets_survive_a_failed_submit_without_being_echoed(make_company, auth):
    company = make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    form = {**HEALTH, "step": "2", "form_token": "A" * 24, "server_transport": "sftp",
            "server_host": "sftp.acme.example", "server_username": "acme",
            "server_directory": "/in", "emails": ["admin@acme.example"]}
    failed = _post(client, "/tasks/new", {**form, "action": "save",
                                          "server_password": "s3cret-pw"})
    page = failed.get_data(as_text=True)
    assert failed.status_code == 422 and "s3cret-pw" not in page
    assert "kept from what you typed" in page
    fingerprint = "SHA256:" + "x" * 43  # pasted: the server need not be reachable now
    saved = _post(client, "/tasks/new", {**form, "action": "save",
                                         "server_host_key_fingerprint": fingerprint})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    task = db.session.scalar(sa.select(Task).where(Task.company_id == company.id))
    assert server_settings.settings(task.server).password == "s3cret-pw"


def test_changing_the_type_away_from_the_health_check_drops_its_server(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    response = _post(client, "/tasks/new", {
        **STEP1, "step": "2", "action": "save", "emails": ["admin@acme.example"],
        "server_transport": "sftp", "server_host": "sftp.acme.example"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert db.session.scalar(sa.select(Task)).server is None


def test_the_run_page_says_being_built_only_while_it_is(make_company, auth, work):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    _post(client, "/tasks/new", {**STEP1, "step": "2", "action": "save",
                                 "emails": ["admin@acme.example"]})
    task = db.session.scalar(sa.select(Task))
    location = _post(client, f"/tasks/{task.id}/run", {}).headers["Location"]
    assert "The report is being built" in client.get(location).get_data(as_text=True)
    work()
    page = client.get(location).get_data(as_text=True)
    assert "succeeded" in page and "The report is being built" not in page


def test_the_limit_is_said_before_the_form_is_filled(make_company, auth, monkeypatch):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    _post(client, "/tasks/new", {**STEP1, "step": "2", "action": "save",
                                 "emails": ["admin@acme.example"]})
    monkeypatch.setattr(task_service, "MAX_ACTIVE_TASKS", 1)
    assert "1 activated task (at most 1)." in client.get("/tasks").get_data(as_text=True)
    page = client.get("/tasks/new").get_data(as_text=True)
    assert "1 activated task (at most 1)." in page and 'id="active-limit"' in page
    assert not re.search(r'name="active" value="1" checked', page)  # offered deactivated
    response = _post(client, "/tasks/new", {**STEP1, "step": "1", "action": "next"})
    assert response.status_code == 422  # at step 1, not after the recipients
    assert "the most allowed is 1" in response.get_data(as_text=True)


def test_the_activated_toggle(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    _post(client, "/tasks/new", {**STEP1, "name": "Rooms", "step": "2", "action": "save",
                                 "emails": ["admin@acme.example"]})
    task = db.session.scalar(sa.select(Task))
    response = _post(client, f"/tasks/{task.id}/active", {"active": "0", "next": "index"})
    assert response.headers["Location"] == "/tasks"
    assert "Task “Rooms” deactivated." in client.get("/tasks").get_data(as_text=True)
    db.session.refresh(task)
    assert not task.active and task.status == "inactive"
    _post(client, f"/tasks/{task.id}/active", {"active": "1"})
    db.session.refresh(task)
    assert task.active and task.status == "scheduled"


def test_destructive_actions_confirm_naming_their_object(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    _post(client, "/tasks/new", {**STEP1, "name": "Rooms", "step": "2", "action": "save",
                                 "emails": ["admin@acme.example"]})
    task = db.session.scalar(sa.select(Task))
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-confirm="Delete the task “Rooms”' in page


def test_an_expired_session_loses_nothing_typed(make_company, auth, app):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    form = {**STEP1, "name": "Typed before expiry", "step": "1", "action": "next"}
    # Logged in, but the token no longer matches (it expired): the form comes back.
    response = client.post("/tasks/new", data={**form, "csrf_token": "stale"})
    assert response.status_code == 302 and response.headers["Location"] == "/tasks/new"
    page = client.get("/tasks/new").get_data(as_text=True)
    assert 'value="Typed before expiry"' in page and "session expired" in page
    assert 'value="Typed before expiry"' not in client.get("/tasks/new").get_data(True)
    # The whole session gone: through the login page, back to the form with its values.
    fresh = app.test_client()
    response = fresh.post("/tasks/new", data={**form, "csrf_token": "stale"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/tasks/new")
    page = fresh.get(response.headers["Location"]).get_data(as_text=True)
    assert "Log in again" in page
    back = Auth(fresh).login("admin@acme.example", next_path="/tasks/new")
    assert back.headers["Location"] == "/tasks/new"
    page = fresh.get("/tasks/new").get_data(as_text=True)
    assert 'value="Typed before expiry"' in page


def test_sso_settings_say_every_error_at_once_and_keep_the_secret(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    response = client.post("/admin/sso", data={
        "csrf_token": csrf_token(client, "/admin/sso"), "form_token": "B" * 24,
        "enabled": "1", "issuer": "", "client_id": "herald", "client_secret": "sso-s3cret",
        "groups_claim": "groups", "role_mapping": "no equals sign", "sync_mode": "sso_only"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Line 1: write" in page and "Issuer is required" in page  # both at once
    assert "sso-s3cret" not in page and "kept from what you typed" in page


def test_duplicate_and_what_run_now_covers(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    _post(client, "/tasks/new", {**STEP1, "name": "Rooms", "step": "2", "action": "save",
                                 "emails": ["admin@acme.example"]})
    task = db.session.scalar(sa.select(Task))
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert f'href="/tasks/{task.id}/duplicate"' in page and 'id="run-now-covers"' in page
    copy = client.get(f"/tasks/{task.id}/duplicate").get_data(as_text=True)
    assert 'value="Copy of Rooms"' in copy and 'action="/tasks/new"' in copy
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 1  # nothing saved yet


def test_the_time_zones_offered(make_company, auth):
    make_company("Acme", timezone="Asia/Kolkata")
    auth.login("admin@acme.example")
    page = auth.client.get("/tasks/new").get_data(as_text=True)
    zones = re.findall(r'<option value="([^"]+)"[^>]*>[^<]*\(UTC[+−]\d\d:\d\d\)', page)
    assert zones[0] == "Asia/Kolkata" and "Europe/Oslo" in zones and "UTC" in zones
    assert not [z for z in zones if z.startswith(("US/", "Etc/")) or z == "Asia/Calcutta"]
    assert "Asia/Kolkata (UTC+05:30) — the company" in page


def test_retry_failed_deliveries_now(make_company, auth, work):
    from datetime import UTC, datetime, timedelta

    from webapp.models import Delivery, OutboxMessage

    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    _post(client, "/tasks/new", {**STEP1, "step": "2", "action": "save",
                                 "emails": ["admin@acme.example"]})
    task = db.session.scalar(sa.select(Task))
    location = _post(client, f"/tasks/{task.id}/run", {}).headers["Location"]
    work()
    delivery = db.session.scalar(sa.select(Delivery))
    later = datetime.now(UTC) + timedelta(hours=3)
    delivery.status, delivery.error, delivery.next_attempt_at = "failed", "550 busy", later
    db.session.commit()
    sent_before = db.session.scalar(sa.select(sa.func.count(OutboxMessage.id)))
    page = client.get(location).get_data(as_text=True)
    assert "Retry failed deliveries now" in page
    response = _post(client, f"{location}/retry", {})
    assert response.headers["Location"] == location
    assert "Retrying 1 failed delivery now." in client.get(location).get_data(as_text=True)
    work()
    db.session.refresh(delivery)
    assert delivery.status == "sent"
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == sent_before + 1


def test_the_preview_explains_the_first_window(make_company, auth, monkeypatch):
    from datetime import UTC, datetime

    from jobs.schedule_words import span
    from webapp.views import task_form

    monkeypatch.setattr(task_form, "now", lambda: datetime(2026, 11, 29, 8, 0, tzinfo=UTC))
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    fields = {k: v for k, v in STEP1.items() if k != "channels"}
    page = client.get("/tasks/preview", query_string=fields).get_data(as_text=True)
    assert ("The first run, Sun 29 Nov 2026 10:30, covers 29 Nov 06:30 → 10:30 "
            "(Europe/London)") in page
    daily = client.get("/tasks/preview", query_string={
        **fields, "schedule_kind": "daily", "timezone": "Asia/Kolkata"}).get_data(as_text=True)
    # 08:00 UTC is 13:30 in Kolkata: the first run is tomorrow's 06:30, a day's window
    assert ("The first run, Mon 30 Nov 2026 06:30, covers 29 Nov 06:30 → 30 Nov 06:30 "
            "(Asia/Kolkata)") in daily
    # An active task keeps its series: its next run covers the time since the last one.
    _post(client, "/tasks/new", {**STEP1, "step": "2", "action": "save",
                                 "emails": ["admin@acme.example"]})
    task = db.session.scalar(sa.select(Task))
    task.watermark = datetime(2026, 11, 29, 2, 30, tzinfo=UTC)
    db.session.commit()
    edit = client.get(f"/tasks/{task.id}/edit").get_data(as_text=True)
    assert "The next run, Sun 29 Nov 2026 10:30, covers 29 Nov 02:30 → 10:30" in edit
    assert span(datetime(2026, 12, 31, 23, tzinfo=UTC), datetime(2027, 1, 1, 5, tzinfo=UTC),
                "UTC") == "31 Dec 2026 23:00 → 1 Jan 2027 05:00"
