"""Issue 15 through the real server: API tokens with a name, a scope and an expiry, listed and
revoked; a bearer header that is no live token never skips CSRF; logging out ends the session
on the server; idle and absolute session timeouts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import requests
import sqlalchemy as sa

from .conftest import make_tenant
from .test_security import TIMEOUT, Api, csrf_of, portal_login


def test_tokens_have_a_scope_an_expiry_and_can_be_revoked(live):
    tenant = make_tenant(live, "Token Co")
    admin = Api(live.url, tenant.token)
    made = {}
    for scope in ("read", "ingest", "admin"):
        answer = admin.post("/api/v1/tokens", json={"name": f"CI {scope}", "scope": scope})
        assert answer.status_code == 201, answer.text
        made[scope] = answer.json()
        assert made[scope]["token"].startswith("hrld_")
    listed = admin.get("/api/v1/tokens").json()
    assert [t["name"] for t in listed][:3] == ["CI admin", "CI ingest", "CI read"]
    assert all("token" not in t for t in listed)  # never shown again
    read, ingest, full = (Api(live.url, made[s]["token"]) for s in ("read", "ingest", "admin"))
    task = {"name": "Rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
            "schedule": {"kind": "daily", "time": "06:30"},
            "recipients": {"emails": ["ops@token-co.example"]}}
    assert read.get("/api/v1/tasks").status_code == 200
    refused = read.post("/api/v1/tasks", json=task)
    assert refused.status_code == 403 and "scope (read)" in refused.text
    assert ingest.post("/api/v1/tasks", json=task).status_code == 403
    assert ingest.post("/api/v1/ingest/org-units", data='{"id": "ou1", "name": "Desk"}\n',
                       headers={"Content-Type": "application/x-ndjson"}).status_code == 200
    assert read.post("/api/v1/ingest/org-units", data="").status_code == 403
    assert full.post("/api/v1/tasks", json=task).status_code == 201
    # last_used_at is written once a minute at most, not on every request.
    for _ in range(3):
        assert read.get("/api/v1/report-types").status_code == 200
    first = next(t for t in admin.get("/api/v1/tokens").json() if t["name"] == "CI read")
    assert first["last_used_at"] is not None
    read.get("/api/v1/tasks")
    again = next(t for t in admin.get("/api/v1/tokens").json() if t["name"] == "CI read")
    assert again["last_used_at"] == first["last_used_at"]
    # Revoked: it stops working at once.
    assert admin.delete(f"/api/v1/tokens/{made['read']['id']}").status_code == 204
    assert read.get("/api/v1/tasks").status_code == 401
    assert admin.delete(f"/api/v1/tokens/{made['read']['id']}").status_code == 404
    # Bad input is answered field by field.
    bad = admin.post("/api/v1/tokens", json={"name": "a\nb", "scope": "root",
                                             "expires_at": "2020-01-01T00:00:00+00:00"})
    assert bad.status_code == 422
    assert set(bad.json()["error"]["fields"]) == {"name", "scope", "expires_at"}
    # An expiry: the token works until then, not after.
    soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    short = admin.post("/api/v1/tokens", json={"name": "short", "expires_at": soon}).json()
    assert short["scope"] == "read"  # the narrowest scope unless asked
    brief = Api(live.url, short["token"])
    assert brief.get("/api/v1/tasks").status_code == 200
    time.sleep(4)
    assert brief.get("/api/v1/tasks").status_code == 401
    actions = [e["action"] for e in admin.get("/api/v1/audit",
                                              params={"action": "token"}).json()["events"]]
    assert actions.count("token.create") == 5 and actions.count("token.revoke") == 1


def test_a_garbage_bearer_header_does_not_skip_csrf_for_a_session(live):
    tenant = make_tenant(live, "Csrf Co")
    browser = portal_login(live, tenant.admin_email).browser
    task = {"name": "Forged", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
            "schedule": {"kind": "daily", "time": "06:30"},
            "recipients": {"emails": ["ops@csrf-co.example"]}}
    forged = browser.post(f"{live.url}/api/v1/tasks", json=task, timeout=TIMEOUT,
                          headers={"Authorization": "Bearer garbage"})
    assert forged.status_code == 400 and "CSRF" in forged.text, forged.text
    page = browser.get(f"{live.url}/tasks", timeout=TIMEOUT).text
    honest = browser.post(f"{live.url}/api/v1/tasks", json=task, timeout=TIMEOUT,
                          headers={"X-CSRFToken": csrf_of(page)})
    assert honest.status_code == 201, honest.text
    tasks = Api(live.url, tenant.token).get("/api/v1/tasks").json()["tasks"]
    assert [t["name"] for t in tasks] == ["Forged"]  # once, with the token


def _signed_in(live, browser: requests.Session) -> bool:
    answer = browser.get(f"{live.url}/tasks", timeout=TIMEOUT, allow_redirects=False)
    return answer.status_code == 200


def test_logout_ends_the_session_for_every_copy_of_the_cookie(live):
    tenant = make_tenant(live, "Logout Co")
    browser = portal_login(live, tenant.admin_email).browser
    thief = requests.Session()
    thief.cookies.update(browser.cookies)
    assert _signed_in(live, thief)
    token = csrf_of(browser.get(f"{live.url}/tasks", timeout=TIMEOUT).text)
    assert browser.post(f"{live.url}/logout", data={"csrf_token": token},
                        timeout=TIMEOUT).status_code == 200
    assert not _signed_in(live, thief)
    assert thief.get(f"{live.url}/api/v1/tasks", timeout=TIMEOUT).status_code == 401


def test_idle_and_absolute_session_timeouts(live):
    tenant = make_tenant(live, "Timeout Co")
    engine = sa.create_engine(live.database_url)
    for column, age in (("last_seen_at", timedelta(minutes=61)),
                        ("created_at", timedelta(hours=12, minutes=1))):
        browser = portal_login(live, tenant.admin_email).browser
        assert _signed_in(live, browser)
        then = (datetime.now(UTC) - age).replace(tzinfo=None)
        with engine.begin() as conn:
            conn.execute(sa.text(
                f"UPDATE login_sessions SET {column} = :then WHERE user_id = "  # noqa: S608
                "(SELECT id FROM users WHERE email = :email) AND ended_at IS NULL"),
                {"then": then, "email": tenant.admin_email})
        assert not _signed_in(live, browser), column
    engine.dispose()


def test_an_administrator_revokes_another_users_token_and_nobody_else_can(live):
    """A leaked token is revoked by whoever manages the company's users, by the API; its
    owner's colleagues without that permission and other companies' administrators find no
    such token."""
    tenant, other = make_tenant(live, "Leak Co"), make_tenant(live, "Leak Other Co")
    admin, stranger = Api(live.url, tenant.token), Api(live.url, other.token)
    assert admin.post("/api/v1/users", json={"email": "dev@leak-co.example"}).status_code == 201
    dev = Api(live.url, live.cli("users", "token", "--company", tenant.slug,
                                 "dev@leak-co.example").strip().splitlines()[-1])
    dev_token, dev_name = (dev.get("/api/v1/tokens").json()[0][k] for k in ("id", "name"))
    admin_token = admin.get("/api/v1/tokens").json()[0]["id"]
    assert dev.delete(f"/api/v1/tokens/{admin_token}").status_code == 404
    assert stranger.delete(f"/api/v1/tokens/{dev_token}").status_code == 404
    assert dev.get("/api/v1/tokens").status_code == 200
    assert admin.delete(f"/api/v1/tokens/{dev_token}").status_code == 204
    assert dev.get("/api/v1/tokens").status_code == 401
    assert admin.get("/api/v1/tasks").status_code == 200
    event = admin.get("/api/v1/audit", params={"action": "token.revoke"}).json()["events"][0]
    assert event["actor"] == tenant.admin_email
    assert event["target_name"] == "dev@leak-co.example"
    assert event["details"]["name"] == dev_name
