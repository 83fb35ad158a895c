"""Issue 15's low findings, in-process (the real-server tests are in tests/e2e): one-line
names, Outbox links from data, token scopes and expiry, server-side sessions, private
targets, and CSRF with a bearer header that is no token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from jobs.delivery import targets
from jobs.retention import prune_logins
from webapp.extensions import db
from webapp.models import ApiToken, LoginSession, OutboxMessage, Task, User
from webapp.services import tokens
from webapp.services.errors import InputError
from webapp.services.people import create_company

from ..conftest import csrf_token

TASK = {"report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": ["admin@acme.example"]}}


@pytest.mark.parametrize("name", ["two\nlines", "line\u2028separator", "nul\x00", "c\rr"])
def test_names_are_one_line(client, make_company, api_token, name):
    headers = api_token(make_company("Acme"))
    answer = client.post("/api/v1/tasks", headers=headers, json={**TASK, "name": name})
    assert answer.status_code == 422
    fields = answer.get_json()["error"]["fields"]
    # NUL is refused with the whole body (strict JSON), before any field is read.
    assert "one line" in fields.get("name", "") or ("\x00" in name and "body" in fields), fields
    with pytest.raises(InputError) as caught:
        create_company(f"Evil {name}", "Europe/London")
    assert "one line" in caught.value.fields["name"]
    db.session.rollback()


def test_outbox_links_come_from_the_run_not_the_text(app, client, auth, make_company,
                                                     api_token, work):
    company = make_company("javascript:alert(1)//runs/")
    headers = api_token(company)
    task = client.post("/api/v1/tasks", headers=headers, json={**TASK, "name": "Rooms"})
    run = client.post(f"/api/v1/tasks/{task.get_json()['id']}/runs", headers=headers)
    work()
    message = db.session.scalar(sa.select(OutboxMessage))
    assert message.run_id == run.get_json()["id"]
    auth.login(company_admin(company).email)
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert 'href="javascript:' not in page
    assert f'href="/runs/{message.run_id}"' in page


def test_token_scope_expiry_and_last_use(client, make_company, app):
    company = make_company("Acme")
    admin = company_admin(company)
    _read, plain = tokens.issue(admin, "read", "read")
    _ingest, ingest = tokens.issue(admin, "ingest", "ingest")
    gone, expired = tokens.issue(admin, "old", "admin",
                                 datetime.now(UTC) + timedelta(seconds=60))
    db.session.commit()
    read_h, ingest_h = ({"Authorization": f"Bearer {p}"} for p in (plain, ingest))
    assert client.get("/api/v1/tasks", headers=read_h).status_code == 200
    refused = client.post("/api/v1/tasks", headers=read_h, json={**TASK, "name": "x"})
    assert refused.status_code == 403 and "scope (read)" in refused.get_json()["error"][
        "message"]
    assert client.post("/api/v1/tasks", headers=ingest_h, json={**TASK, "name": "x"}) \
        .status_code == 403
    db.session.execute(sa.update(ApiToken).where(ApiToken.id == gone.id).values(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.session.commit()
    assert client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {expired}"}) \
        .status_code == 401
    writes = []
    sa.event.listen(db.engine, "before_cursor_execute",
                    lambda *a: writes.append(a[2]) if "UPDATE api_tokens" in a[2] else None)
    for _ in range(5):
        client.get("/api/v1/report-types", headers=read_h)
    assert len(writes) <= 1  # at most once a minute, not once a request


def company_admin(company):
    return db.session.scalar(sa.select(User).where(User.company_id == company.id))


def test_a_garbage_bearer_header_keeps_the_csrf_check(client, auth, make_company):
    make_company("Acme")
    auth.login("admin@acme.example")
    forged = client.post("/api/v1/tasks", json={**TASK, "name": "Forged"},
                         headers={"Authorization": "Bearer garbage"})
    assert forged.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


def test_sessions_end_on_logout_and_after_idle_or_absolute_time(app, client, auth,
                                                                make_company):
    make_company("Acme")
    auth.login("admin@acme.example")
    assert client.get("/tasks").status_code == 200
    login = db.session.scalar(sa.select(LoginSession))
    login.last_seen_at = datetime.now(UTC) - timedelta(minutes=61)
    db.session.commit()
    assert client.get("/tasks").status_code == 302
    auth.login("admin@acme.example")
    newest = db.session.scalar(sa.select(LoginSession).order_by(LoginSession.id.desc()))
    newest.created_at = datetime.now(UTC) - timedelta(hours=13)
    db.session.commit()
    assert client.get("/tasks").status_code == 302
    auth.login("admin@acme.example")
    page = client.get("/tasks").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/tasks")}) \
        .status_code == 302
    assert "Log out" in page
    assert db.session.scalar(sa.select(sa.func.count(LoginSession.id)).where(
        LoginSession.ended_at.is_(None), LoginSession.created_at > datetime.now(UTC) -
        timedelta(hours=1), LoginSession.last_seen_at > datetime.now(UTC) -
        timedelta(minutes=30))) == 0


def test_dead_logins_are_pruned_and_live_ones_kept(app, client, auth, make_company,
                                                    redis_conn):
    make_company("Acme")
    auth.login("admin@acme.example")
    live = db.session.scalar(sa.select(LoginSession))
    now = datetime.now(UTC)
    db.session.add_all([  # past SESSION_MAX_HOURS (12); logged out
        LoginSession(user_id=live.user_id, key_hash="a" * 64, created_at=now - timedelta(hours=13)),
        LoginSession(user_id=live.user_id, key_hash="b" * 64, ended_at=now)])
    db.session.commit()
    assert prune_logins(now, 12, redis_conn) == 2
    assert db.session.scalars(sa.select(LoginSession.id)).all() == [live.id]
    assert client.get("/tasks").status_code == 200  # the live login still works


def test_private_addresses_are_refused_unless_allowed(app):
    app.config["ALLOW_PRIVATE_TARGETS"] = False
    for host in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "fe80::1", "::ffff:127.0.0.1",
                 "224.0.0.251", "100.64.0.1", "localhost", "db.localhost"):
        assert targets.literal_refusal(host), host
    assert targets.literal_refusal("93.184.216.34") is None
    assert targets.literal_refusal("ftp.example.com") is None  # judged when resolved
    with pytest.raises(targets.PrivateTarget):
        targets.resolve("localhost", 21)
    app.config["ALLOW_PRIVATE_TARGETS"] = True
    assert targets.literal_refusal("127.0.0.1") is None
