"""Recipients and people over HTTP against the live server (gunicorn, real SMTP sink): an
invitation sent by the CLI works once, forgot password answers alike (its mail sent by a
worker), set-password from standard input, a deactivated user's token stops working, My
reports after login."""

from __future__ import annotations

import re
import time

import requests

from tests.conftest import PASSWORD

from .conftest import make_tenant

NEW = "correct staple battery horse"
MAIL_JOB = "reports: herald-mail-"  # a worker's log line as it takes a mail job


def emailed_path(mailbox, to: str, after: int = 0) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with mailbox.lock:
            found = [m for rcpts, m in mailbox.messages[after:] if to in rcpts]
        if found:
            text = found[-1].get_body(("plain",)).get_content()
            return re.search(r"https?://\S+(/password/\S+)", text).group(1)
        time.sleep(0.2)
    raise AssertionError(f"no mail to {to}")


def csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=30).text
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def login(live, email: str, password: str) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    answer = session.post(f"{live.url}/login", timeout=30, data={
        "email": email, "password": password, "csrf_token": csrf(session, f"{live.url}/login")})
    return session, answer


def test_cli_invitation_works_once_then_my_reports(live, mailbox):
    tenant = make_tenant(live, "People Bank")
    nia = "nia@people-bank.example"
    before = len(mailbox.messages)
    assert "invited nia@people-bank.example" in live.cli(
        "users", "invite", "--company", tenant.slug, nia, "--name", "Nia")
    link = live.url + emailed_path(mailbox, nia, before)
    browser = requests.Session()
    form = browser.get(link, timeout=30)
    assert form.status_code == 200 and "Welcome to Herald" in form.text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form.text).group(1)
    done = browser.post(link, data={"csrf_token": token, "password": NEW, "confirm": NEW},
                        allow_redirects=False, timeout=30)
    assert done.status_code == 302 and "/login?email=" in done.headers["Location"]
    again = browser.post(link, data={"csrf_token": token, "password": NEW, "confirm": NEW},
                         allow_redirects=False, timeout=30)
    assert again.status_code == 410

    session, answer = login(live, nia, NEW)
    assert answer.url.endswith("/my/reports") and "My reports" in answer.text
    assert session.get(f"{live.url}/tasks", timeout=30).status_code == 403


def test_forgot_password_alike_and_cli_set_password(live, mailbox):
    tenant = make_tenant(live, "Forgetful Bank")
    session = requests.Session()

    def ask(email: str) -> tuple[int, str]:
        answer = session.post(f"{live.url}/password/forgot", timeout=30, data={
            "email": email, "csrf_token": csrf(session, f"{live.url}/password/forgot")})
        text = re.sub(r'value="[^"]+"|"X-CSRFToken": "[^"]+"', "", answer.text)
        return answer.status_code, text

    before, jobs = len(mailbox.messages), live.log().count(MAIL_JOB)
    assert ask(tenant.admin_email) == ask("nobody@forgetful-bank.example")
    emailed_path(mailbox, tenant.admin_email, before)
    # Sent by a reports worker (one job, for the known address), not by the web request.
    assert live.log().count(MAIL_JOB) == jobs + 1

    live.cli("users", "set-password", "--company", tenant.slug, tenant.admin_email,
             stdin=NEW + "\n")
    assert login(live, tenant.admin_email, PASSWORD)[1].url.endswith("/login")
    assert login(live, tenant.admin_email, NEW)[1].url.endswith("/tasks")


def test_deactivated_user_loses_login_and_token(live, tenant):
    api = {"Authorization": f"Bearer {tenant.token}"}
    made = requests.post(f"{live.url}/api/v1/users", headers=api, timeout=30, json={
        "email": "dee@live-bank.example", "roles": ["scheduled-reports.viewer"]})
    assert made.status_code == 201, made.text
    live.cli("users", "set-password", "--company", tenant.slug, "dee@live-bank.example",
             stdin=PASSWORD + "\n")
    dee_token = live.cli("users", "token", "--company", tenant.slug,
                         "dee@live-bank.example").strip().splitlines()[-1]
    dee = {"Authorization": f"Bearer {dee_token}"}
    assert requests.get(f"{live.url}/api/v1/report-types", headers=dee,
                        timeout=30).status_code == 200
    off = requests.patch(f"{live.url}/api/v1/users/{made.json()['id']}", headers=api,
                         json={"active": False}, timeout=30)
    assert off.status_code == 200 and off.json()["active"] is False
    assert requests.get(f"{live.url}/api/v1/report-types", headers=dee,
                        timeout=30).status_code == 401
    assert login(live, "dee@live-bank.example", PASSWORD)[1].url.endswith("/login")


def test_a_password_mail_refused_at_first_is_retried_and_arrives(live, mailbox):
    tenant = make_tenant(live, "Retried Bank")
    with mailbox.lock:
        mailbox.refuse.add(tenant.admin_email)  # the first attempt meets "451 try later"
    session = requests.Session()
    answer = session.post(f"{live.url}/password/forgot", timeout=30, data={
        "email": tenant.admin_email, "csrf_token": csrf(session, f"{live.url}/password/forgot")})
    assert answer.status_code == 200
    path = emailed_path(mailbox, tenant.admin_email)  # retried by the worker, 2 s later
    with mailbox.lock:
        assert not mailbox.refuse and len(mailbox.messages) == 1
    log = live.log()
    assert "Account mail to a***@retried-bank.example (company retried-bank): attempt 1 " \
           "failed (recipient refused: 451 4.3.0 Try again later); retried in 2 s" in log
    assert path not in log
    new = session.get(live.url + path, timeout=30)
    assert new.status_code == 200 and "Set a new password" in new.text
