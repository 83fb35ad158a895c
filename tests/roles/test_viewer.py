"""The scheduled-reports.viewer role: in every company, given to recipients on save, taken
back when they stop being recipients (a manual assignment stays), never held by a group email
or a non-user; the form and the API say who cannot download and why."""

from __future__ import annotations

import json

import sqlalchemy as sa

from roles import permissions as P
from webapp.extensions import db
from webapp.models import Company, Role

from ..conftest import Auth, csrf_token
from .helpers import give, held, make_task, user_by_email

VIEWER = (P.VIEWER_ROLE, "recipient")


def test_every_new_company_has_the_builtin_roles(make_company):
    company = make_company("Acme Bank")
    roles = {r.name: r for r in db.session.scalars(sa.select(Role).where(
        Role.company_id == company.id))}
    assert set(roles) == {P.ADMIN_ROLE, P.VIEWER_ROLE}
    assert set(roles[P.VIEWER_ROLE].permissions) == P.DOWNLOAD_PERMISSIONS
    assert len(P.DOWNLOAD_PERMISSIONS) == 10
    assert "download.room_metadata" in roles[P.VIEWER_ROLE].permissions
    assert set(roles[P.ADMIN_ROLE].permissions) == P.ALL
    assert all(r.builtin for r in roles.values())


def test_recipients_get_the_role_on_save_and_lose_it_when_removed(make_company, make_user):
    company = make_company("Acme Bank")
    cid = company.id
    make_user(company, "rita@acme.example")
    make_user(company, "sam@acme.example")
    make_user(company, "desk@acme.example", password=None, is_group=True)
    gone = make_user(company, "gone@acme.example")
    gone.active = False
    db.session.commit()
    viewer = db.session.scalar(sa.select(Role).where(Role.company_id == cid,
                                                     Role.name == P.VIEWER_ROLE))
    give(user_by_email(cid, "sam@acme.example"), viewer, "manual")

    emails = ["RITA@acme.example", "sam@acme.example", "desk@acme.example",
              "gone@acme.example", "outsider@elsewhere.example"]
    first = make_task(company, emails)
    second = make_task(company, ["rita@acme.example"], name="Second")
    assert held(cid, "rita@acme.example") == {VIEWER}
    assert held(cid, "sam@acme.example") == {(P.VIEWER_ROLE, "manual"), VIEWER}
    assert held(cid, "desk@acme.example") == set()
    assert held(cid, "gone@acme.example") == set()

    # Removed from the first task, Rita is still a recipient of the second.
    company = db.session.get(Company, cid)
    make_task(company, ["sam@acme.example"], task=db.session.merge(first))
    assert held(cid, "rita@acme.example") == {VIEWER}
    # Sam stops being a recipient: the automatic assignment goes, the manual one stays.
    make_task(company, ["rita@acme.example"], task=db.session.get(type(first), first.id))
    assert held(cid, "sam@acme.example") == {(P.VIEWER_ROLE, "manual")}
    # Deleting the last task that names Rita takes hers back too.
    from webapp.services import tasks as task_service
    for task_id in (first.id, second.id):
        task_service.delete(db.session.get(type(first), task_id))
    db.session.commit()
    assert held(cid, "rita@acme.example") == set()


def test_a_user_added_after_the_task_gets_the_role(make_company, make_user, app, api_token):
    company = make_company("Acme Bank")
    cid = company.id
    make_task(company, ["late@acme.example", "later@acme.example"])
    make_user(db.session.get(Company, cid), "late@acme.example")
    assert held(cid, "late@acme.example") == {VIEWER}
    # Users that arrive through the ingestion API too.
    headers = {**api_token(db.session.get(Company, cid)),
               "Content-Type": "application/x-ndjson"}
    body = json.dumps({"id": "u9", "email": "later@acme.example", "name": "L"}) + "\n"
    response = app.test_client().post("/api/v1/ingest/users", data=body, headers=headers)
    assert response.status_code == 200 and response.get_json()["created"] == 1
    assert held(cid, "later@acme.example") == {VIEWER}


def test_api_and_form_list_recipients_who_cannot_download(app, make_company, make_user,
                                                          api_token):
    company = make_company("Acme Bank")
    make_user(company, "rita@acme.example")
    make_user(company, "desk@acme.example", password=None, is_group=True)
    gone = make_user(company, "gone@acme.example")
    gone.active = False
    db.session.commit()
    headers = api_token(company)
    response = app.test_client().post("/api/v1/tasks", headers=headers, json={
        "name": "Rooms", "report_type": "usage_by_rooms", "channels": ["sms"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": ["rita@acme.example", "desk@acme.example",
                                  "gone@acme.example", "nobody@acme.example"]}})
    assert response.status_code == 201
    reasons = {r["email"]: r["reason"] for r in response.get_json()["recipients_without_download"]}
    assert set(reasons) == {"desk@acme.example", "gone@acme.example", "nobody@acme.example"}
    assert reasons["desk@acme.example"].startswith("group email")
    assert reasons["gone@acme.example"] == "inactive user"
    assert reasons["nobody@acme.example"].startswith("not a user")

    # The form's recipients step says the same before saving.
    browser = app.test_client()
    Auth(browser).login("admin@acme-bank.example")
    page = browser.post("/tasks/new", data={
        "csrf_token": csrf_token(browser, "/tasks/new"), "step": "2", "action": "add_email",
        "name": "X", "report_type": "usage_by_rooms", "channels": "sms",
        "schedule_kind": "daily", "schedule_time": "06:30", "timezone": "Europe/London",
        "emails": ["desk@acme.example", "rita@acme.example"], "active": "1"},
    ).get_data(as_text=True)
    assert "Cannot download: group email" in page
    assert page.count("Cannot download") == 1


def test_the_viewer_role_cannot_be_changed_or_deleted(app, make_company, api_token):
    company = make_company("Acme Bank")
    viewer = db.session.scalar(sa.select(Role).where(Role.company_id == company.id,
                                                     Role.name == P.VIEWER_ROLE))
    headers = api_token(company)
    client = app.test_client()
    response = client.patch(f"/api/v1/roles/{viewer.id}", headers=headers,
                            json={"permissions": [P.VIEW_TASKS]})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "builtin_role"
    assert client.delete(f"/api/v1/roles/{viewer.id}", headers=headers).status_code == 409
    body = client.get(f"/api/v1/roles/{viewer.id}", headers=headers).get_json()
    assert set(body["permissions"]) == P.DOWNLOAD_PERMISSIONS and body["builtin"] is True
