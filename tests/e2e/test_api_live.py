"""Every operation of /api/v1/openapi.json, called once with valid input through the real
server: no 5xx, and every answer's status is one the document gives for that operation."""

from __future__ import annotations

import json
import time

import pytest

from jobs.embedded_redis import free_port
from tests.conftest import PASSWORD

from .conftest import make_tenant

METHODS = {"get", "post", "put", "patch", "delete"}
NDJSON = {"Content-Type": "application/x-ndjson"}


def ndjson(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


RECORDS = {
    "org-units": [{"id": "ou1", "name": "Markets", "parent_id": None}],
    "users": [{"id": "u1", "email": "ana@walk.example", "name": "Ana", "org_unit_id": "ou1"}],
    "accounts": [{"id": "a1", "channel": "whatsapp", "identifier": "+447700900001",
                  "user_id": "u1", "status": "connected"}],
    "rooms": [{"id": "r1", "channel": "whatsapp", "name": "Client", "type": "direct",
               "org_unit_id": "ou1", "owner_user_id": "u1"}],
    "messages": [{"id": "m1", "room_id": "r1", "account_id": "a1", "direction": "sent",
                  "sent_at": "2026-03-01T10:00:00+00:00"}],
    "violations": [{"id": "v1", "room_id": "r1", "user_id": "u1", "type": "dlp",
                    "policy": "Cards", "action": "blocked",
                    "occurred_at": "2026-03-01T10:00:00+01:00"}],
    "irregularities": [{"id": "i1", "channel": "whatsapp", "account_id": "a1", "room_id": "r1",
                        "event_type": "archiving_stopped", "archiving_stopped": True,
                        "occurred_at": "2026-03-01T10:00:00Z"}],
    "export-emails": [{"id": "x1", "room_id": "r1", "messages": 4,
                       "archive_address": "vault@archive.example", "status": "sent",
                       "exported_at": "2026-03-01T10:00:00Z"}],
}


@pytest.fixture(scope="module")
def spec(live):
    import requests

    response = requests.get(f"{live.url}/api/v1/openapi.json", timeout=30)
    assert response.status_code == 200
    return response.json()


def test_every_operation_answers_a_valid_call(live, spec):
    import requests

    tenant = make_tenant(live, "Walk Co")
    live.cli("users", "create", "--company", tenant.slug, "--email", "bob@walk-co.example",
             "--password", PASSWORD, "--name", "Bob")
    session = requests.Session()
    session.headers.update(tenant.headers)
    called: dict[tuple[str, str], int] = {}

    def call(method: str, template: str, path: str | None = None, **kwargs):
        response = session.request(method, live.url + "/api/v1" + (path or template),
                                   timeout=60, **kwargs)
        documented = spec["paths"]["/api/v1" + template][method.lower()]["responses"]
        assert response.status_code < 500, (method, path or template, response.text)
        assert str(response.status_code) in documented, \
            (method, path or template, response.status_code, response.text[:500])
        called[(method, template)] = response.status_code
        return response

    call("GET", "/report-types")
    call("GET", "/schedules/preview", params={"kind": "weekly", "weekday": "mon",
                                              "time": "06:30", "timezone": "Europe/London",
                                              "count": 3})
    for kind, records in RECORDS.items():
        answer = call("POST", "/ingest/{kind}", f"/ingest/{kind}", data=ndjson(*records),
                      headers=NDJSON).json()
        assert answer["rejected"] == 0, (kind, answer)

    # Roles and people.
    permissions = call("GET", "/permissions").json()
    call("GET", "/roles")
    role = call("POST", "/roles", json={"name": "Auditors", "description": "Reads reports",
                                        "permissions": [permissions[0]["key"]]}).json()
    call("GET", "/roles/{role_id}", f"/roles/{role['id']}")
    call("PATCH", "/roles/{role_id}", f"/roles/{role['id']}",
         json={"name": "Auditors", "description": "Reads every report",
               "permissions": [p["key"] for p in permissions[:2]]})
    users = call("GET", "/users").json()
    bob = next(u for u in users if u["email"] == "bob@walk-co.example")
    call("GET", "/users/{user_id}", f"/users/{bob['id']}")
    call("POST", "/users/{user_id}/roles", f"/users/{bob['id']}/roles",
         json={"role_id": role["id"]})
    call("DELETE", "/users/{user_id}/roles/{role_id}", f"/users/{bob['id']}/roles/{role['id']}")
    unlinked = call("DELETE", "/users/{user_id}/sso", f"/users/{bob['id']}/sso")  # never linked
    assert unlinked.status_code == 404, unlinked.text  # the 204 is test_sso_unlink_live's
    call("DELETE", "/roles/{role_id}", f"/roles/{role['id']}")
    carol = call("POST", "/users", json={"email": "carol@walk-co.example", "name": "Carol",
                                         "invite": True}).json()
    call("POST", "/users/{user_id}/invite", f"/users/{carol['id']}/invite")
    call("PATCH", "/users/{user_id}", f"/users/{carol['id']}", json={"active": False})
    token = call("POST", "/tokens", json={"name": "Walk export", "scope": "read"}).json()
    assert any(t["id"] == token["id"] for t in call("GET", "/tokens").json())
    call("DELETE", "/tokens/{token_id}", f"/tokens/{token['id']}")
    call("GET", "/sso")
    call("PUT", "/sso", json={"enabled": False, "issuer": "https://login.example.com/acme",
                              "client_id": "herald", "client_secret": "s3cret",
                              "groups_claim": "groups", "role_mapping": {},
                              "sync_mode": "sso_only", "allow_signup": False})
    call("GET", "/audit", "/audit?action=role")

    # A task, run now, its run and CSV; a connection test; delete.
    task = call("POST", "/tasks", json={
        "name": "Rooms daily", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": [tenant.admin_email]}}).json()
    call("GET", "/tasks")
    call("GET", "/tasks/{task_id}", f"/tasks/{task['id']}")
    call("PATCH", "/tasks/{task_id}", f"/tasks/{task['id']}", json={"name": "Rooms, daily"})
    run = call("POST", "/tasks/{task_id}/runs", f"/tasks/{task['id']}/runs").json()
    deadline = time.monotonic() + 60
    while run["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"run never finished: {run}\n{live.log()}"
        time.sleep(0.3)
        run = call("GET", "/runs/{run_id}", f"/runs/{run['id']}").json()
    assert run["status"] == "succeeded", run
    call("GET", "/tasks/{task_id}/runs", f"/tasks/{task['id']}/runs")
    csv = call("GET", "/runs/{run_id}/csv", f"/runs/{run['id']}/csv")
    assert csv.status_code == 200 and csv.content
    result = call("POST", "/servers/test", json={
        "transport": "ftp", "host": "127.0.0.1", "port": free_port(), "username": "u",
        "password": "p", "directory": "/"})
    assert result.status_code == 422 or result.json()["ok"] is False
    call("DELETE", "/tasks/{task_id}", f"/tasks/{task['id']}")

    operations = {(method.upper(), path.removeprefix("/api/v1"))
                  for path, item in spec["paths"].items() for method in item
                  if method in METHODS}
    assert operations - set(called) == set(), "operations without a real-server call"
