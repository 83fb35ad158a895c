"""Schedule previews (docs/product.md §3, §8): the API, the form's htmx fragment and its no-JS
fallback; the 409 while running; the 100-activated-tasks limit under concurrent requests."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Task
from webapp.services import tasks as task_service

from ..conftest import csrf_token

PREVIEW = "/api/v1/schedules/preview"


def test_preview_every_4_hours_from_0630(app, make_company, api_token):
    company = make_company("Acme Bank", timezone="UTC")
    response = app.test_client().get(PREVIEW, headers=api_token(company), query_string={
        "kind": "hourly", "every": "4", "time": "06:30",
        "after": "2026-03-02T00:00:00+00:00", "count": "7"})
    assert response.status_code == 200, response.get_json()
    runs = response.get_json()["runs"]
    assert [r["run_at"] for r in runs] == [
        f"2026-03-02T{h}:30:00+00:00" for h in ("02", "06", "10", "14", "18", "22")] + [
        "2026-03-03T02:30:00+00:00"]
    assert runs[0]["window_start"] == "2026-03-01T22:30:00+00:00"
    assert all(a["window_end"] == b["window_start"] for a, b in zip(runs, runs[1:],
                                                                   strict=False))


def test_preview_every_3_months_in_the_tasks_time_zone(app, make_company, api_token):
    company = make_company("Acme Bank", timezone="Asia/Kolkata")
    response = app.test_client().get(PREVIEW, headers=api_token(company), query_string={
        "kind": "monthly", "every": "3", "day": "1", "time": "06:30",
        "timezone": "Europe/London", "after": "2026-01-15T12:00:00Z", "count": "4"})
    runs = response.get_json()["runs"]
    assert [r["run_at"] for r in runs] == [
        "2026-02-01T06:30:00+00:00", "2026-05-01T06:30:00+01:00",
        "2026-08-01T06:30:00+01:00", "2026-11-01T06:30:00+00:00"]
    assert runs[0]["window_start"] == "2025-11-01T06:30:00+00:00"


def test_preview_defaults_five_runs_from_now_in_the_companys_zone(app, make_company,
                                                                  api_token):
    company = make_company("Acme Bank", timezone="Asia/Kolkata")
    response = app.test_client().get(PREVIEW, headers=api_token(company),
                                     query_string={"kind": "daily", "time": "09:00"})
    runs = response.get_json()["runs"]
    assert len(runs) == 5
    assert all(r["run_at"].endswith("T09:00:00+05:30") for r in runs)
    assert datetime.fromisoformat(runs[0]["run_at"]) > datetime.now(UTC)


def test_preview_across_dst_shows_a_23_hour_window(app, make_company, api_token):
    company = make_company("Acme Bank")
    # the "+" unencoded, as a hand-typed URL sends it, is understood too
    response = app.test_client().get(
        PREVIEW + "?kind=daily&time=01:30&after=2026-03-28T12:00:00+00:00&count=2",
        headers=api_token(company))
    runs = response.get_json()["runs"]
    assert [r["run_at"] for r in runs] == ["2026-03-29T02:30:00+01:00",
                                           "2026-03-30T01:30:00+01:00"]
    assert runs[1]["window_start"] == "2026-03-29T02:30:00+01:00"


@pytest.mark.parametrize("query, field", [
    ({"kind": "hourly", "every": "5", "time": "06:30"}, "every"),
    ({"kind": "weekly", "weekday": "someday", "time": "06:30"}, "weekday"),
    ({"kind": "monthly", "every": "1", "day": "31", "time": "06:30"}, "day"),
    ({"kind": "daily", "time": "25:00"}, "time"),
    ({"kind": "daily", "time": "06:30", "timezone": "Europe/Londres"}, "timezone"),
    ({"kind": "fortnightly", "time": "06:30"}, "kind"),
    ({"kind": "daily", "time": "06:30", "count": "0"}, "count"),
    ({"kind": "daily", "time": "06:30", "after": "2026-01-01T00:00:00"}, "after"),
])
def test_preview_rejects_bad_values_naming_the_field(app, make_company, api_token, query,
                                                    field):
    company = make_company("Acme Bank")
    response = app.test_client().get(PREVIEW, headers=api_token(company), query_string=query)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert field in error["fields"] and error["fields"][field]


def test_preview_needs_authentication(client):
    response = client.get(PREVIEW, query_string={"kind": "daily", "time": "06:30"})
    assert response.status_code == 401


def test_form_preview_fragment_follows_the_edits(app, make_company, auth, client):
    make_company("Acme Bank")
    assert auth.login("admin@acme-bank.example").status_code == 302
    page = client.get("/tasks/new").get_data(as_text=True)
    assert 'hx-get="/tasks/preview"' in page and 'hx-target="#preview"' in page
    assert page.count("<tr><td>") == 5  # the first render has the preview already
    response = client.get("/tasks/preview", headers={"HX-Request": "true"}, query_string={
        "schedule_kind": "hourly", "schedule_every_hours": "4", "schedule_time": "06:30",
        "timezone": "Asia/Kolkata"})
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200
    assert fragment.lstrip().startswith('<section id="preview"')
    assert "<html" not in fragment and fragment.count("<tr><td>") == 5
    assert "+05:30" in fragment or "IST" in fragment
    assert "HX-Request" in response.headers.get("Vary", "")
    bad = client.get("/tasks/preview", headers={"HX-Request": "true"}, query_string={
        "schedule_kind": "hourly", "schedule_every_hours": "5", "schedule_time": "06:30",
        "timezone": "UTC"}).get_data(as_text=True)
    assert "Every X hours must be one of 1, 2, 3, 4, 6, 12." in bad


def test_form_preview_without_javascript(app, make_company, auth, client):
    make_company("Acme Bank")
    auth.login("admin@acme-bank.example")
    token = csrf_token(client, "/tasks/new")
    response = client.post("/tasks/new", data={
        "csrf_token": token, "step": "1", "action": "preview", "name": "x",
        "report_type": "usage_by_rooms", "schedule_kind": "weekly", "schedule_time": "09:00",
        "schedule_weekday": "fri", "timezone": "America/New_York"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'value="preview"' in page
    rows = page[page.index('<section id="preview"'):].split("</section>")[0]
    assert rows.count("<tr><td>") == 5
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0  # nothing saved


def test_editing_a_running_task_is_refused(app, make_company, api_token, auth, client):
    company = make_company("Acme Bank")
    data = task_service.validate(company, {
        "name": "Rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:00"},
        "recipients": {"emails": ["ops@acme.example"]}})
    task = task_service.save(company, data, datetime.now(UTC))
    task.status = "running"
    db.session.commit()
    headers = api_token(company)
    response = app.test_client().patch(f"/api/v1/tasks/{task.id}", headers=headers,
                                       json={"name": "New"})
    assert response.status_code == 409
    assert response.get_json()["error"]["message"] == (
        "This task is running; edit it when the run has finished.")
    assert app.test_client().post(f"/api/v1/tasks/{task.id}/runs",
                                  headers=headers).status_code == 409
    auth.login("admin@acme-bank.example")
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "edit it when the run has finished" in page and "disabled" in page
    assert client.get(f"/tasks/{task.id}/edit").status_code == 302


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="row locks need PostgreSQL (SQLite serialises writers itself)")
def test_the_limit_of_100_activated_tasks_holds_under_concurrent_requests(
        app, make_company, api_token):
    company = make_company("Acme Bank")
    now = datetime.now(UTC)
    payload = {"report_type": "usage_by_rooms", "channels": ["whatsapp"],
               "schedule": {"kind": "daily", "time": "06:00"},
               "recipients": {"emails": ["ops@acme.example"]}}
    for i in range(97):
        task_service.save(company, task_service.validate(company, {**payload,
                                                                   "name": f"t{i}"}), now)
    db.session.commit()
    headers = api_token(company)
    barrier = threading.Barrier(8)
    answers: list = []

    def create(i):
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/tasks", headers=headers,
                               json={**payload, "name": f"racer {i}"})
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    codes = sorted(code for code, _ in answers)
    assert codes == [201] * 3 + [422] * 5, answers
    refusal = next(body for code, body in answers if code == 422)["error"]["fields"]["active"]
    assert "already has 100 activated tasks" in refusal and "Deactivate" in refusal
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Task.id)).where(
        Task.company_id == company.id, Task.active.is_(True))) == 100
    # an inactive task can still be saved
    response = app.test_client().post("/api/v1/tasks", headers=headers,
                                      json={**payload, "name": "off", "active": False})
    assert response.status_code == 201
