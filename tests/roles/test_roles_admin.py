"""Custom roles and assignments through the API and the portal: validation with field
messages, no privilege escalation, group emails hold no role, the last admin stays, and a
custom role's single download permission opens exactly that report type."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from roles import permissions as P
from webapp.extensions import db
from webapp.models import AuditEvent, Company, Role

from ..conftest import Auth, csrf_token
from .helpers import finished_run, give, held, make_role, make_task, user_by_email

ROOMS = P.download_permission("usage_by_rooms")


def test_custom_role_lifecycle_through_the_api(app, make_company, make_user, api_token):
    company = make_company("Acme Bank")
    cid = company.id
    carl = make_user(company, "carl@acme.example")
    carl_id = carl.id
    make_user(company, "desk@acme.example", password=None, is_group=True)
    headers = api_token(company)
    client = app.test_client()

    assert len(client.get("/api/v1/permissions", headers=headers).get_json()) == len(P.CATALOG)
    bad = client.post("/api/v1/roles", headers=headers, json={
        "name": "scheduled-reports.VIEWER", "permissions": ["nope"], "colour": "red"})
    assert bad.status_code == 422
    fields = bad.get_json()["error"]["fields"]
    assert "built-in role" in fields["name"] and "Unknown permission: nope" in \
        fields["permissions"] and fields["colour"] == "Unknown field."
    assert client.post("/api/v1/roles", headers=headers, json={"name": "x"}).get_json()[
        "error"]["fields"]["permissions"] == "Choose at least one permission."

    created = client.post("/api/v1/roles", headers=headers, json={
        "name": "Rooms downloader", "description": "Rooms only", "permissions": [ROOMS]})
    assert created.status_code == 201, created.get_json()
    role = created.get_json()
    assert role["permissions"] == [ROOMS] and role["builtin"] is False
    dup = client.post("/api/v1/roles", headers=headers,
                      json={"name": "rooms DOWNLOADER", "permissions": [ROOMS]})
    assert dup.get_json()["error"]["fields"]["name"] == "A role named “rooms DOWNLOADER” " \
                                                         "already exists."

    assert client.post(f"/api/v1/users/{carl_id}/roles", headers=headers,
                       json={"role": "Rooms downloader"}).status_code == 200
    users = {u["email"]: u for u in client.get("/api/v1/users", headers=headers).get_json()}
    assert users["carl@acme.example"]["roles"] == [
        {"role_id": role["id"], "role": "Rooms downloader", "source": "manual"}]
    assert users["desk@acme.example"]["download_blocker"].startswith("group email")
    desk_id = users["desk@acme.example"]["id"]
    refused = client.post(f"/api/v1/users/{desk_id}/roles", headers=headers,
                          json={"role_id": role["id"]})
    assert refused.status_code == 409
    assert refused.get_json()["error"]["fields"]["role"] == "A group email cannot hold a role."

    # The single download permission opens that type's runs, and no other.
    rooms_run = finished_run(make_task(db.session.get(Company, cid), ["rita@acme.example"]))
    # Another report type's run (only usage_by_rooms is creatable on this branch, so the
    # second task's type is set directly).
    health = make_task(db.session.get(Company, cid), ["x@acme.example"], name="Health")
    health.report_type = "native_connection_status"
    db.session.commit()
    status_run = finished_run(health)
    rooms_id, status_id = rooms_run.id, status_run.id
    carl_headers = api_token(db.session.get(Company, cid), "carl@acme.example")
    ok = client.get(f"/api/v1/runs/{rooms_id}/csv", headers=carl_headers)
    assert ok.status_code == 200
    ok.close()
    refused = client.get(f"/api/v1/runs/{status_id}/csv", headers=carl_headers)
    assert refused.status_code == 403 and refused.mimetype == "application/json"
    assert "Download Native channel connection status report (Health check report)" in \
        refused.get_json()["error"]["message"]

    # Editing the role changes what Carl can do at once; deleting it takes it away.
    patched = client.patch(f"/api/v1/roles/{role['id']}", headers=headers,
                           json={"permissions": [P.download_permission(
                               "native_connection_status")]})
    assert patched.status_code == 200
    ok = client.get(f"/api/v1/runs/{status_id}/csv", headers=carl_headers)
    assert ok.status_code == 200
    ok.close()
    assert client.delete(f"/api/v1/roles/{role['id']}", headers=headers).status_code == 204
    assert held(cid, "carl@acme.example") == set()
    assert client.get(f"/api/v1/runs/{status_id}/csv", headers=carl_headers).status_code == 403
    results = [e.result for e in db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action.startswith("run.")).order_by(AuditEvent.id))]
    assert results == ["allowed", "refused", "allowed", "refused"]


def test_nobody_grants_what_they_do_not_hold(app, make_company, make_user, api_token):
    company = make_company("Acme Bank")
    cid = company.id
    hr = make_user(company, "hr@acme.example")
    give(hr, make_role(company, "user-admin", {P.MANAGE_USERS}))
    admin_role = db.session.scalar(sa.select(Role).where(Role.company_id == cid,
                                                         Role.name == P.ADMIN_ROLE))
    admin_role_id = admin_role.id
    hr_id = user_by_email(cid, "hr@acme.example").id
    headers = api_token(db.session.get(Company, cid), "hr@acme.example")
    client = app.test_client()
    response = client.post("/api/v1/roles", headers=headers,
                           json={"name": "sneaky", "permissions": [ROOMS]})
    assert response.status_code == 422
    assert "only grant permissions you hold" in response.get_json()["error"]["fields"][
        "permissions"]
    response = client.post(f"/api/v1/users/{hr_id}/roles", headers=headers,
                           json={"role_id": admin_role_id})
    assert response.status_code == 422
    assert held(cid, "hr@acme.example") == {("user-admin", "manual")}


def test_the_last_admin_keeps_the_role(app, make_company, make_user, api_token):
    company = make_company("Acme Bank")
    cid = company.id
    admin = user_by_email(cid, "admin@acme-bank.example")
    admin_id = admin.id
    role_id = db.session.scalar(sa.select(Role.id).where(Role.company_id == cid,
                                                         Role.name == P.ADMIN_ROLE))
    headers = api_token(company)
    client = app.test_client()
    response = client.delete(f"/api/v1/users/{admin_id}/roles/{role_id}", headers=headers)
    assert response.status_code == 409 and "last administrator" in \
        response.get_json()["error"]["message"]
    second = make_user(db.session.get(Company, cid), "second@acme.example",
                       roles=[P.ADMIN_ROLE])
    assert second.id
    response = client.delete(f"/api/v1/users/{admin_id}/roles/{role_id}", headers=headers)
    assert response.status_code == 204
    assert held(cid, "admin@acme-bank.example") == set()

    # Decided on the permission, not the role's name: a custom role that manages users is
    # the last way in once nobody holds company-admin.
    company = db.session.get(Company, cid)
    keeper = make_role(company, "user-admin", {P.MANAGE_USERS})
    keeper_id = keeper.id
    give(db.session.get(type(second), second.id), keeper)
    second_headers = api_token(db.session.get(Company, cid), "second@acme.example")
    response = client.delete(f"/api/v1/users/{second.id}/roles/{role_id}",
                             headers=second_headers)
    assert response.status_code == 204
    response = client.patch(f"/api/v1/roles/{keeper_id}", headers=second_headers,
                            json={"permissions": [P.VIEW_TASKS]})
    assert response.status_code == 422  # VIEW_TASKS: not held by the editor any more
    response = client.patch(f"/api/v1/roles/{keeper_id}", headers=second_headers,
                            json={"description": "kept", "permissions": [P.MANAGE_USERS]})
    assert response.status_code == 200
    response = client.delete(f"/api/v1/roles/{keeper_id}", headers=second_headers)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "last_admin"
    from webapp.services import roles as role_service
    with pytest.raises(role_service.RoleConflict, match="Nobody would be left"):
        role_service.save(cid, role_service.RoleInput("user-admin", "", [P.VIEW_TASKS]),
                          db.session.get(Role, keeper_id))


def test_portal_pages_create_assign_and_remove(app, make_company, make_user):
    company = make_company("Acme Bank")
    cid = company.id
    make_user(company, "carl@acme.example")
    carl_id = user_by_email(cid, "carl@acme.example").id
    browser = app.test_client()
    Auth(browser).login("admin@acme-bank.example")
    token = csrf_token(browser, "/admin/roles/new")
    page = browser.get("/admin/roles").get_data(as_text=True)
    assert P.VIEWER_ROLE in page and "built-in" in page

    response = browser.post("/admin/roles/new", data={"csrf_token": token, "name": "",
                                                      "permissions": []})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Role name is required." in text and "Choose at least one permission." in text
    response = browser.post("/admin/roles/new", data={
        "csrf_token": token, "name": "Compliance desk", "description": "Downloads",
        "permissions": [ROOMS, P.download_permission("communication_compliance")]})
    assert response.status_code == 302
    role_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = browser.get(f"/admin/roles/{role_id}").get_data(as_text=True)
    assert "Download Chat Usage report by Rooms" in page and "Nobody." in page

    page = browser.get(f"/admin/users/{carl_id}").get_data(as_text=True)
    assert '<option value="" selected>Choose a role…</option>' in page  # no role by default
    response = browser.post(f"/admin/users/{carl_id}/roles",
                            data={"csrf_token": token, "role_id": ""})
    assert response.status_code == 422
    assert "Choose the role to give." in response.get_data(as_text=True)
    assert held(cid, "carl@acme.example") == set()
    response = browser.post(f"/admin/users/{carl_id}/roles",
                            data={"csrf_token": token, "role_id": role_id})
    assert response.status_code == 302
    assert held(cid, "carl@acme.example") == {("Compliance desk", "manual")}
    page = browser.get(f"/admin/users/{carl_id}").get_data(as_text=True)
    assert "Compliance desk" in page and "an administrator" in page
    assert "carl@acme.example" in browser.get(f"/admin/roles/{role_id}").get_data(as_text=True)

    viewer_id = db.session.scalar(sa.select(Role.id).where(Role.company_id == cid,
                                                           Role.name == P.VIEWER_ROLE))
    response = browser.get(f"/admin/roles/{viewer_id}/edit")
    assert response.status_code == 302  # built-in: back to its page with a message
    assert "cannot be changed" in browser.get(response.headers["Location"]).get_data(
        as_text=True)

    response = browser.post(f"/admin/users/{carl_id}/roles/{role_id}/delete",
                            data={"csrf_token": token})
    assert response.status_code == 302
    assert held(cid, "carl@acme.example") == set()
    response = browser.post(f"/admin/roles/{role_id}/delete", data={"csrf_token": token})
    assert response.status_code == 302
    assert db.session.get(Role, role_id) is None
