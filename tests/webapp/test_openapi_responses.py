"""Every documented response of /api/v1 validates against /api/v1/openapi.json, checked on
real answers: each operation is called (its successes and its documented errors) and each
answer is validated by openapi-core against the document the app serves."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.test import EnvironBuilder

from roles import permissions as P
from webapp.extensions import db
from webapp.models import Role, SsoIdentity, Task, User

TASK = {"name": "Daily rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": ["ops@acme.example"]}}


@pytest.fixture
def spec_and_client(app):
    client = app.test_client()
    spec = client.get("/api/v1/openapi.json").get_json()
    return spec, OpenAPI.from_dict(spec), client


def _documented(spec) -> set[tuple[str, str, int]]:
    return {(method.upper(), path, int(status))
            for path, item in spec["paths"].items()
            for method, operation in item.items()
            for status in operation["responses"]}


def test_every_documented_response_validates_on_real_answers(spec_and_client, make_company,
                                                             make_user, api_token, work):
    spec, openapi, client = spec_and_client
    company = make_company("Acme")
    headers = api_token(company)
    make_user(company, "carl@acme.example")
    nobody = api_token(company, "carl@acme.example")  # no role: no download permission
    seen: set[tuple[str, str, int]] = set()

    def call(method: str, path: str, template: str, status: int, *, auth=None, **kwargs):
        response = client.open(path, method=method, headers=auth or headers, **kwargs)
        response.get_data()
        response.close()  # a CSV is a file
        assert response.status_code == status, (method, path, response.get_data(as_text=True))
        # The operation, without the body the app has read already.
        request = EnvironBuilder(method=method, path=path).get_request()
        openapi.validate_response(WerkzeugOpenAPIRequest(request),
                                  WerkzeugOpenAPIResponse(response))
        seen.add((method, template, status))
        return response.get_json(silent=True)

    base = "/api/v1"
    call("GET", f"{base}/report-types", f"{base}/report-types", 200)
    preview = f"{base}/schedules/preview"
    call("GET", preview + "?kind=hourly&every=4&time=06:30&count=3", preview, 200)
    call("GET", preview + "?kind=hourly&every=5&time=06:30", preview, 422)

    tasks, one = f"{base}/tasks", f"{base}/tasks/{{task_id}}"
    task = call("POST", tasks, tasks, 201, json=TASK)
    call("POST", tasks, tasks, 422, json={**TASK, "name": ""})
    call("GET", tasks, tasks, 200)
    call("GET", tasks + "?limit=0&status=asleep", tasks, 422)
    tid = task["id"]
    call("GET", f"{tasks}/{tid}", one, 200)
    call("GET", f"{tasks}/999999", one, 404)
    call("PATCH", f"{tasks}/{tid}", one, 200, json={"name": "Rooms", "options": {
        "excel_bom": True}})
    call("PATCH", f"{tasks}/{tid}", one, 422, json={"schedule": {"kind": "weekly"}})

    runs, task_runs = f"{base}/runs/{{run_id}}", f"{base}/tasks/{{task_id}}/runs"
    run = call("POST", f"{tasks}/{tid}/runs", task_runs, 202)
    work()
    call("GET", f"{tasks}/{tid}/runs", task_runs, 200)
    call("GET", f"{tasks}/{tid}/runs?cursor=x", task_runs, 422)
    call("GET", f"{base}/runs/{run['id']}", runs, 200)
    call("GET", f"{base}/runs/999999", runs, 404)
    csv = f"{base}/runs/{{run_id}}/csv"
    call("GET", f"{base}/runs/{run['id']}/csv", csv, 200)
    call("GET", f"{base}/runs/{run['id']}/csv", csv, 403, auth=nobody)
    call("GET", f"{base}/runs/999999/csv", csv, 404)

    db.session.get(Task, tid).status = "running"  # as while a worker builds its report
    db.session.commit()
    call("PATCH", f"{tasks}/{tid}", one, 409, json={"name": "Busy"})
    call("POST", f"{tasks}/{tid}/runs", task_runs, 409)
    call("DELETE", f"{tasks}/{tid}", one, 409)
    db.session.get(Task, tid).status = "scheduled"
    db.session.commit()
    call("GET", f"{tasks}/{tid}", one, 200)  # with its last run
    call("DELETE", f"{tasks}/{tid}", one, 204)

    servers = f"{base}/servers/test"
    call("POST", servers, servers, 200, json={  # nothing listens on port 1: ok is false
        "transport": "ftp", "host": "127.0.0.1", "port": 1, "username": "u",
        "password": "p", "directory": "/"})
    call("POST", servers, servers, 422, json={"transport": "ftp"})
    client.application.config["CONNECTION_TEST_LIMIT"] = "1 per minute"
    closed = {"transport": "ftp", "host": "127.0.0.1", "port": 1, "username": "u",
              "password": "p", "directory": "/"}
    call("POST", servers, servers, 200, json=closed)
    call("POST", servers, servers, 429, json=closed)  # the user's limit

    ingest = f"{base}/ingest/{{kind}}"
    call("POST", f"{base}/ingest/org-units", ingest, 200, content_type="application/x-ndjson",
         data=json.dumps({"id": "ou-1", "name": "Desk"}) + "\n{not json}\n")
    call("POST", f"{base}/ingest/nothing", ingest, 404, data="")
    client.application.config["MAX_INGEST_BYTES"] = 64
    call("POST", f"{base}/ingest/org-units", ingest, 413, content_type="application/x-ndjson",
         data=(json.dumps({"id": "ou-2", "name": "Desk"}) + "\n") * 10)
    client.application.config["MAX_INGEST_BYTES"] = 1 << 30

    call("GET", f"{base}/permissions", f"{base}/permissions", 200)
    roles, role = f"{base}/roles", f"{base}/roles/{{role_id}}"
    call("GET", roles, roles, 200)
    created = call("POST", roles, roles, 201, json={
        "name": "Rooms", "permissions": [P.VIEW_TASKS]})
    call("POST", roles, roles, 422, json={"name": "", "permissions": []})
    call("POST", roles, roles, 409, json={"name": "rooms", "permissions": [P.VIEW_TASKS]})
    call("GET", f"{roles}/{created['id']}", role, 200)
    call("GET", f"{roles}/999999", role, 404)
    call("PATCH", f"{roles}/{created['id']}", role, 200, json={"description": "Desk"})
    call("PATCH", f"{roles}/{created['id']}", role, 422, json={"permissions": ["nope"]})
    builtin = db.session.scalar(sa.select(Role).where(Role.company_id == company.id,
                                                      Role.builtin.is_(True)))
    call("PATCH", f"{roles}/{builtin.id}", role, 409, json={"description": "x"})
    call("DELETE", f"{roles}/{builtin.id}", role, 409)

    users, user = f"{base}/users", f"{base}/users/{{user_id}}"
    call("GET", users, users, 200)
    carl = db.session.scalar(sa.select(User).where(User.email_key == "carl@acme.example"))
    admin = db.session.scalar(sa.select(User).where(User.email_key == "admin@acme.example"))
    call("GET", f"{users}/{carl.id}", user, 200)
    call("GET", f"{users}/999999", user, 404)
    give = f"{base}/users/{{user_id}}/roles"
    call("POST", f"{users}/{carl.id}/roles", give, 200, json={"role_id": created["id"]})
    call("POST", f"{users}/{carl.id}/roles", give, 422, json={"role": "No such role"})
    desk = call("POST", users, users, 201, json={"email": "desk@acme.example", "is_group": True})
    call("POST", f"{users}/{desk['id']}/roles", give, 409, json={"role_id": created["id"]})
    take = f"{base}/users/{{user_id}}/roles/{{role_id}}"
    managers = call("POST", roles, roles, 201, json={"name": "User managers",
                                                    "permissions": [P.MANAGE_USERS]})
    make_user(company, "dora@acme.example")
    dora = db.session.scalar(sa.select(User).where(User.email_key == "dora@acme.example"))
    call("POST", f"{users}/{dora.id}/roles", give, 200, json={"role_id": managers["id"]})
    manager = api_token(company, "dora@acme.example")  # may not take back what she lacks
    call("DELETE", f"{users}/{carl.id}/roles/{created['id']}", take, 403, auth=manager)
    call("DELETE", f"{roles}/{created['id']}", role, 403, auth=manager)
    call("DELETE", f"{users}/{dora.id}/roles/{managers['id']}", take, 204)
    call("DELETE", f"{users}/{carl.id}/roles/{created['id']}", take, 204)
    call("DELETE", f"{users}/{carl.id}/roles/{created['id']}", take, 404)  # none left
    admin_role = next(a.role_id for a in admin.assignments if a.source == "manual")
    call("DELETE", f"{users}/{admin.id}/roles/{admin_role}", take, 409)
    call("DELETE", f"{roles}/{created['id']}", role, 204)

    invite = f"{base}/users/{{user_id}}/invite"
    nia = call("POST", users, users, 201, json={"email": "nia@acme.example", "invite": True})
    call("POST", users, users, 409, json={"email": "nia@acme.example"})  # taken
    call("POST", users, users, 422, json={"email": "not an address"})
    call("PATCH", f"{users}/{nia['id']}", user, 200, json={"name": "Nia"})
    call("PATCH", f"{users}/{nia['id']}", user, 422, json={"active": "no"})
    call("PATCH", f"{users}/{admin.id}", user, 409, json={"active": False})
    call("POST", f"{users}/{nia['id']}/invite", invite, 202)
    call("PATCH", f"{users}/{nia['id']}", user, 200, json={"active": False})
    call("POST", f"{users}/{nia['id']}/invite", invite, 409)

    sso = f"{base}/sso"
    call("GET", sso, sso, 200)
    call("PUT", sso, sso, 200, json={"issuer": "https://login.example.com/realms/acme",
                                     "client_id": "herald", "client_secret": "s3cret"})
    call("PUT", sso, sso, 422, json={"sync_mode": "sometimes"})
    unlink = f"{base}/users/{{user_id}}/sso"
    db.session.add(SsoIdentity(company_id=company.id, user_id=admin.id, subject="a-1",
                               issuer="https://login.example.com/realms/acme",
                               last_login_at=datetime.now(UTC), last_claims={"sub": "a-1"}))
    db.session.commit()
    # A linked user's sso object (and the others' null) as the document describes them.
    linked = {u["id"]: u["sso"] for u in call("GET", users, users, 200)}
    assert linked[admin.id]["subject"] == "a-1" and linked[carl.id] is None
    assert call("GET", f"{users}/{admin.id}", user, 200)["sso"] == linked[admin.id]
    call("DELETE", f"{users}/{admin.id}/sso", unlink, 204)
    call("DELETE", f"{users}/{admin.id}/sso", unlink, 404)  # not linked any more

    tokens, token = f"{base}/tokens", f"{base}/tokens/{{token_id}}"
    made = call("POST", tokens, tokens, 201, json={"name": "CI", "scope": "read"})
    call("POST", tokens, tokens, 422, json={"name": "two\nlines", "scope": "root"})
    call("GET", tokens, tokens, 200)
    call("DELETE", f"{tokens}/{made['id']}", token, 204)

    audit = f"{base}/audit"
    call("GET", audit + "?action=task", audit, 200)
    call("GET", audit + "?since=yesterday", audit, 422)

    # Every operation answers 401 without credentials (documented on each of them).
    for method, template, status in sorted(_documented(spec)):
        if status == 401:
            call(method, re.sub(r"\{[a-z_]+\}", "1", template), template, 401,
                 auth={"Accept": "application/json"})
    # Every operation that takes an id answers 404 for one not in the company.
    for method, template, status in sorted(_documented(spec) - seen):
        if status == 404 and "{" in template:
            call(method, re.sub(r"\{[a-z_]+\}", "999999", template), template, 404, json={})
    call("POST", servers + "?task_id=999999", servers, 404, json={"transport": "ftp"})
    # 403 is documented on every operation; it is exercised above wherever a permission
    # applies (a download, taking back a role), and the permission matrix walks the rest.
    left = {(m, t, code) for m, t, code in _documented(spec) - seen if code != 403}
    assert left == set()
