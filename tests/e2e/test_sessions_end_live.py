"""What ends a user's other logins, through the real server with separate cookie sessions:
a password set through the emailed reset link, `users set-password`, and deactivating the
user (unlinking single sign-on: test_sso_unlink_live.py). The administrator's login stays;
each audit event says how many logins ended."""

from __future__ import annotations

import requests

from tests.conftest import PASSWORD

from .conftest import make_tenant
from .test_accounts_live import NEW, csrf, emailed_path, login


def signed_in(live, browser: requests.Session) -> bool:
    """Still logged in: My reports answers; else the login page, as every page would."""
    answer = browser.get(f"{live.url}/my/reports", timeout=30, allow_redirects=False)
    assert answer.status_code in (200, 302), answer.status_code
    if answer.status_code == 302:
        assert answer.headers["Location"].startswith("/login")
    return answer.status_code == 200


def audit_details(live, tenant, action: str) -> list[dict]:
    events = requests.get(f"{live.url}/api/v1/audit", params={"action": action},
                          headers=tenant.headers, timeout=30).json()["events"]
    return [e["details"] for e in events]


def _dee(live, tenant) -> tuple[str, int]:
    email = f"dee@{tenant.slug}.example"
    made = requests.post(f"{live.url}/api/v1/users", headers=tenant.headers, timeout=30,
                         json={"email": email, "roles": ["scheduled-reports.viewer"]})
    assert made.status_code == 201, made.text
    live.cli("users", "set-password", "--company", tenant.slug, email, stdin=PASSWORD + "\n")
    return email, made.json()["id"]


def test_a_password_reset_ends_the_other_logins(live, mailbox):
    tenant = make_tenant(live, "Reset Ends Bank")
    dee, _ = _dee(live, tenant)
    laptop, phone = login(live, dee, PASSWORD)[0], login(live, dee, PASSWORD)[0]
    admin = login(live, tenant.admin_email, PASSWORD)[0]
    assert signed_in(live, laptop) and signed_in(live, phone) and signed_in(live, admin)

    before = len(mailbox.messages)
    laptop.post(f"{live.url}/password/forgot", timeout=30, data={
        "email": dee, "csrf_token": csrf(laptop, f"{live.url}/password/forgot")})
    link = live.url + emailed_path(mailbox, dee, before)
    done = laptop.post(link, allow_redirects=False, timeout=30, data={
        "csrf_token": csrf(laptop, link), "password": NEW, "confirm": NEW})
    assert done.status_code == 302 and "/login?email=" in done.headers["Location"]
    assert not signed_in(live, phone)  # whoever had the old password is out
    assert not signed_in(live, laptop)  # logged out, to log in with the new password
    assert signed_in(live, admin)
    assert audit_details(live, tenant, "password.reset")[0] == \
        {"via": "reset", "sessions_ended": 1}

    # The command line sets it again: every login of hers ends.
    laptop, phone = login(live, dee, NEW)[0], login(live, dee, NEW)[0]
    live.cli("users", "set-password", "--company", tenant.slug, dee, stdin=PASSWORD + "\n")
    assert not signed_in(live, laptop) and not signed_in(live, phone)
    assert signed_in(live, admin)
    assert audit_details(live, tenant, "password.reset")[0] == \
        {"via": "cli", "sessions_ended": 2}


def test_deactivating_ends_every_login_and_reactivating_revives_none(live):
    tenant = make_tenant(live, "Deactivate Ends Bank")
    dee, ident = _dee(live, tenant)
    laptop, phone = login(live, dee, PASSWORD)[0], login(live, dee, PASSWORD)[0]
    admin = login(live, tenant.admin_email, PASSWORD)[0]
    user = f"{live.url}/api/v1/users/{ident}"
    for active in (False, True):
        answer = requests.patch(user, headers=tenant.headers, json={"active": active},
                                timeout=30)
        assert answer.status_code == 200 and answer.json()["active"] is active
    assert not signed_in(live, laptop) and not signed_in(live, phone)
    assert signed_in(live, admin)
    assert signed_in(live, login(live, dee, PASSWORD)[0])  # active again: a new login works
    assert audit_details(live, tenant, "user.deactivate") == [{"sessions_ended": 2}]
