"""Invitations, password links, forgot password, set-password, and deactivating users
(in-process): one-time signed links that expire, an answer that never tells whether an
address exists, lock-out rules, audit events, the API and the CLI."""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from flask import current_app
from rq import Queue

from jobs.embedded_redis import free_port
from jobs.queue import REPORTS_QUEUE, connection
from jobs.worker import work_burst
from tests.conftest import PASSWORD, csrf_token
from webapp.extensions import db
from webapp.models import AuditEvent, OutboxMessage, User

NEW = "correct staple battery horse"


def link_in_outbox(to: str) -> str:
    """The link of the newest mail to ``to``, once a worker sent what was queued."""
    work_burst(current_app._get_current_object(), connection())
    db.session.expire_all()
    message = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.to_addr == to)
                                 .order_by(OutboxMessage.id.desc())).first()
    assert message is not None, f"no mail to {to}"
    return re.search(r"http://herald\.test(/password/\S+)", message.text_body).group(1)


def actions(company_id: int) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.company_id == company_id).order_by(AuditEvent.id)))


def set_password(client, path: str, password: str = NEW, confirm: str | None = None):
    return client.post(path, data={"csrf_token": csrf_token(client, "/password/forgot"),
                                   "password": password,
                                   "confirm": password if confirm is None else confirm})


def test_invite_from_the_users_page_then_set_password_once(app, client, auth, make_company):
    company = make_company()
    auth.login("admin@acme-bank.example")
    answer = client.post("/admin/users/new", data={
        "csrf_token": csrf_token(client, "/admin/users/new"), "email": "Nia@Acme-Bank.example",
        "name": "Nia", "invite": "1"})
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "invited" in page and "not yet accepted" in page
    path = link_in_outbox("Nia@acme-bank.example")
    auth.logout()

    assert "Welcome to Herald" in client.get(path).get_data(as_text=True)  # GET changes nothing
    short = set_password(client, path, "short")
    assert short.status_code == 422 and "at least 8 characters" in short.get_data(as_text=True)
    mismatch = set_password(client, path, NEW, "something else")
    assert "not the same" in mismatch.get_data(as_text=True)
    done = set_password(client, path)
    assert done.status_code == 302 and "/login?email=" in done.headers["Location"]
    again = set_password(client, path, "another password 1")
    assert again.status_code == 410 and "used already" in again.get_data(as_text=True)
    assert auth.login("nia@acme-bank.example", NEW).status_code == 302
    assert {"user.create", "user.invite", "password.reset"} <= set(actions(company.id))


def test_a_newer_invitation_voids_the_older_link(app, client, make_company, make_user):
    from webapp.services import accounts

    company = make_company()
    user = make_user(company, "nia@acme-bank.example", password=None)
    accounts.invite(user)
    db.session.commit()
    first = link_in_outbox(user.email)
    accounts.invite(user)
    db.session.commit()
    assert set_password(client, first).status_code == 410
    assert set_password(client, link_in_outbox(user.email)).status_code == 302


def test_links_expire_after_invite_ttl_hours(app, client, make_company, make_user,
                                              monkeypatch):
    from itsdangerous.timed import TimestampSigner

    from webapp.services import accounts

    company = make_company()
    user = make_user(company, "nia@acme-bank.example", password=None)
    accounts.invite(user)
    db.session.commit()
    path = link_in_outbox(user.email)
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 71 * 3600)
    assert client.get(path).status_code == 200
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 73 * 3600)
    answer = client.get(path)
    assert answer.status_code == 410 and "expired" in answer.get_data(as_text=True)
    assert client.get(path[:-3] + "abc").status_code == 410


def test_forgot_password_answers_alike_and_is_throttled(app, client, make_company, make_user):
    company = make_company()
    make_user(company, "nia@acme-bank.example")

    def ask(email):
        answer = client.post("/password/forgot", data={
            "csrf_token": csrf_token(client, "/password/forgot"), "email": email})
        page = client.get("/password/forgot").get_data(as_text=True)
        return answer.status_code, answer.headers.get("Location"), \
            re.sub(r"[\w-]+\.[\w-]+\.[\w-]+", "CSRF", page)  # the page, its CSRF token aside

    known, unknown = ask("nia@acme-bank.example"), ask("nobody@acme-bank.example")
    assert known[:2] == unknown[:2] == (302, "/password/forgot")
    assert "If an account with that address exists" in known[2]
    assert known[2] == unknown[2]
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0  # queued only
    assert set_password(client, link_in_outbox("nia@acme-bank.example")).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 1
    bad = client.post("/password/forgot", data={
        "csrf_token": csrf_token(client, "/password/forgot"), "email": "not an address"})
    assert bad.status_code == 422 and "not a valid email" in bad.get_data(as_text=True)
    codes = [ask("nia@acme-bank.example")[0] for _ in range(5)]
    assert codes[-1] == 429 and codes[0] == 302


def test_forgot_password_never_connects_to_smtp_within_the_request(app, client, make_company,
                                                                  make_user):
    """The reset mail is queued for a worker: with SMTP_URL at a closed port, a known and an
    unknown address get the same answer at once; the worker's send is what fails."""
    company = make_company()
    make_user(company, "nia@acme-bank.example")
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"

    def ask(email):
        token = csrf_token(client, "/password/forgot")
        started = time.monotonic()
        answer = client.post("/password/forgot", data={"csrf_token": token, "email": email})
        return answer.status_code, answer.headers.get("Location"), time.monotonic() - started

    known, unknown = ask("nia@acme-bank.example"), ask("nobody@acme-bank.example")
    assert known[:2] == unknown[:2] == (302, "/password/forgot")
    assert known[2] < 2 and unknown[2] < 2, (known, unknown)
    queue = Queue(REPORTS_QUEUE, connection=connection())
    assert queue.count == 1  # the known address's mail, not sent yet
    assert "password.reset_request" in actions(company.id)
    work_burst(app, connection())
    # The worker met the closed port: the mail waits for its retry (ACCOUNT_MAIL_RETRY_DELAYS).
    assert queue.scheduled_job_registry.count == 1 and queue.failed_job_registry.count == 0
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0


def test_deactivate_reactivate_and_lockout(app, client, auth, make_company, make_user,
                                           api_token):
    company = make_company()
    nia = make_user(company, "nia@acme-bank.example")
    headers = api_token(company, nia.email)
    bearer = app.test_client()  # no session cookie: the token alone
    assert bearer.get("/my/reports", headers=headers).status_code == 200
    auth.login("admin@acme-bank.example")
    token = csrf_token(client, f"/admin/users/{nia.id}")
    client.post(f"/admin/users/{nia.id}/deactivate", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(User, nia.id).active is False
    assert bearer.get("/api/v1/report-types", headers=headers).status_code == 401
    admin = db.session.scalar(sa.select(User).where(User.email_key == "admin@acme-bank.example"))
    themselves = client.post(f"/admin/users/{admin.id}/deactivate", data={"csrf_token": token},
                             follow_redirects=True)
    assert "cannot deactivate yourself" in themselves.get_data(as_text=True)
    client.post(f"/admin/users/{nia.id}/reactivate", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(User, nia.id).active is True
    auth.logout()
    assert auth.login(nia.email).status_code == 302
    assert {"user.deactivate", "user.reactivate"} <= set(actions(company.id))


def test_api_create_invite_and_patch(app, client, make_company, make_user, api_token):
    company = make_company()
    headers = api_token(company)
    made = client.post("/api/v1/users", headers=headers, json={
        "email": "nia@acme-bank.example", "name": "Nia", "invite": True,
        "roles": ["scheduled-reports.viewer"]})
    assert made.status_code == 201, made.json
    body = made.json
    assert body["has_password"] is False and body["invited_at"]
    assert [r["source"] for r in body["roles"]] == ["manual"]
    link_in_outbox("nia@acme-bank.example")
    taken = client.post("/api/v1/users", headers=headers, json={"email": "NIA@acme-bank.example"})
    assert taken.status_code == 409 and "already exists" in taken.json["error"]["fields"]["email"]
    bad = client.post("/api/v1/users", headers=headers, json={"email": "x", "invite": "yes"})
    assert set(bad.json["error"]["fields"]) == {"email", "invite"}
    group = client.post("/api/v1/users", headers=headers, json={
        "email": "team@acme-bank.example", "is_group": True, "invite": True})
    assert group.status_code == 422 and "group email" in group.json["error"]["fields"]["email"]

    nia_id = body["id"]
    off = client.patch(f"/api/v1/users/{nia_id}", headers=headers, json={"active": False})
    assert off.status_code == 200 and off.json["active"] is False
    refused = client.post(f"/api/v1/users/{nia_id}/invite", headers=headers)
    assert refused.status_code == 409  # the user's state, not the request
    on = client.patch(f"/api/v1/users/{nia_id}", headers=headers, json={"active": True})
    assert on.json["active"] is True
    sent = client.post(f"/api/v1/users/{nia_id}/invite", headers=headers)
    assert sent.status_code == 202 and sent.json["expires_in_hours"] == 72
    admin_id = db.session.scalar(sa.select(User.id).where(
        User.email_key == "admin@acme-bank.example"))
    me = client.patch(f"/api/v1/users/{admin_id}", headers=headers, json={"active": False})
    assert me.status_code == 409 and "yourself" in me.json["error"]["message"]
    assert client.patch("/api/v1/users/999999", headers=headers,
                        json={"active": False}).status_code == 404
    assert client.post("/api/v1/users/999999/invite", headers=headers).status_code == 404
    assert client.patch(f"/api/v1/users/{nia_id}", headers=headers,
                        json={"active": "no"}).status_code == 422


def test_the_last_admin_cannot_be_deactivated(app, client, make_company, make_user, api_token):
    company = make_company()
    helper = make_user(company, "helper@acme-bank.example", roles=["company-admin"])
    headers = api_token(company, helper.email)
    admin_id = db.session.scalar(sa.select(User.id).where(
        User.email_key == "admin@acme-bank.example"))
    first = client.patch(f"/api/v1/users/{admin_id}", headers=headers, json={"active": False})
    assert first.status_code == 200
    # The helper is now the last one who can manage users: a second admin API token can't
    # exist, so the rule is checked through the service.
    from webapp.services import accounts

    with pytest.raises(accounts.InputError, match="Nobody would be left"):
        accounts.set_active(db.session.get(User, helper.id), False, None)


def test_cli_invite_and_set_password(app, runner, make_company, client, auth):
    company = make_company()
    out = runner.invoke(args=["users", "invite", "--company", company.slug,
                              "new@acme-bank.example", "--name", "New"])
    assert out.exit_code == 0 and "invited new@acme-bank.example" in out.output
    link_in_outbox("new@acme-bank.example")
    out = runner.invoke(args=["users", "set-password", "--company", company.slug,
                              "new@acme-bank.example"], input=NEW + "\n")
    assert out.exit_code == 0, out.output
    assert auth.login("new@acme-bank.example", NEW).status_code == 302
    short = runner.invoke(args=["users", "set-password", "--company", company.slug,
                                "new@acme-bank.example"], input="short\n")
    assert short.exit_code != 0 and "at least 8" in short.output
    missing = runner.invoke(args=["users", "set-password", "--company", company.slug,
                                  "ghost@acme-bank.example"], input=PASSWORD + "\n")
    assert missing.exit_code != 0 and "No user" in missing.output


def test_task_form_flags_and_invites_a_recipient_who_cannot_log_in(app, client, auth,
                                                                   make_company, make_user):
    company = make_company()
    make_user(company, "nia@acme-bank.example", password=None)
    auth.login("admin@acme-bank.example")
    page = client.post("/tasks/new", data={
        "csrf_token": csrf_token(client, "/tasks/new"), "action": "next", "name": "Rooms",
        "report_type": "usage_by_rooms", "channels": "whatsapp", "schedule_kind": "daily",
        "schedule_time": "06:30", "timezone": "Europe/London", "active": "1",
        "emails": "nia@acme-bank.example"}).get_data(as_text=True)
    assert "Cannot log in yet" in page and "Invite them" in page
    answer = client.post("/admin/users/invite", data={"email": "nia@acme-bank.example"},
                         headers={"X-CSRFToken": csrf_token(client, "/tasks/new")})
    assert answer.status_code == 200 and "Invitation sent" in answer.get_data(as_text=True)
    link_in_outbox("nia@acme-bank.example")


def test_new_user_without_an_email_says_it_is_required(app, client, auth, make_company):
    """An empty Email field is named as missing, not as “” lacking an @-sign (portal and API)."""
    company = make_company()
    auth.login("admin@acme-bank.example")
    answer = client.post("/admin/users/new", data={
        "csrf_token": csrf_token(client, "/admin/users/new"), "email": "  ", "name": "Nia"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "An email address is required." in page
    assert "@-sign" not in page and 'value="Nia"' in page
    headers = {"X-CSRFToken": csrf_token(client, "/admin/users/new")}
    api = client.post("/api/v1/users", headers=headers, json={"email": ""})
    assert api.status_code == 422
    assert api.json["error"]["fields"]["email"] == "An email address is required."
    assert "user.create" not in actions(company.id)


def test_the_users_pages_buttons_are_grouped_as_on_the_roles_page(client, auth, make_company):
    make_company()
    auth.login("admin@acme-bank.example")
    page = client.get("/admin/users").get_data(as_text=True)
    actions_html = page.split('<div class="actions">', 1)[1].split("</div>", 1)[0]
    assert "New user" in actions_html and ">Roles<" in actions_html
