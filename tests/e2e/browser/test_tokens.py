"""API tokens in a real Chromium: make one (its text shown once), use it, revoke it; and
logging out ends the session for a copy of its cookie."""

from __future__ import annotations

import requests
from playwright.sync_api import expect

from ..conftest import make_tenant
from .conftest import accepting_confirm, log_in


def test_make_use_and_revoke_a_token_in_the_portal(new_page, live, problems):
    tenant = make_tenant(live, "Token Browser Co")
    page = new_page()
    log_in(page, tenant.admin_email)
    page.get_by_role("link", name="API tokens").click()
    page.get_by_role("button", name="Make token").click()
    expect(page.locator("#name-error")).to_contain_text("Name the token")
    page.get_by_label("Name").fill("Nightly export")
    page.get_by_label("Scope").select_option("read")
    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_role("button", name="Make token").click()
    shown = page.locator("#new-token code")
    expect(shown).to_contain_text("hrld_")
    token = shown.inner_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{live.url}/api/v1/tasks", headers=headers, timeout=30).ok
    page.goto("/account/tokens")
    expect(page.locator("#tokens")).to_contain_text("Nightly export")
    assert token not in page.content()  # never shown again
    row = page.locator("#tokens tr", has_text="Nightly export")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("revoked: it no longer works")).to_be_visible()
    assert requests.get(f"{live.url}/api/v1/tasks", headers=headers,
                        timeout=30).status_code == 401
    problems.expect_statuses(422)  # the form sent back without a name


def test_an_administrator_revokes_a_users_token_on_their_page(new_page, live):
    tenant = make_tenant(live, "Token Admin Co")
    admin = {"Authorization": f"Bearer {tenant.token}"}
    made = requests.post(f"{live.url}/api/v1/users", json={"email": "ci@token-admin-co.example"},
                         headers=admin, timeout=30)
    assert made.status_code == 201, made.text
    token = live.cli("users", "token", "--company", tenant.slug,
                     "ci@token-admin-co.example").strip().splitlines()[-1]
    theirs = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{live.url}/api/v1/tokens", headers=theirs, timeout=30).ok
    page = new_page()
    log_in(page, tenant.admin_email)
    page.goto(f"/admin/users/{made.json()['id']}")
    row = page.locator("#user-tokens tbody tr").first
    expect(row.locator("td").nth(1)).to_have_text("admin")  # the CLI's token: scope admin
    asked = accepting_confirm(page)
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("revoked: it no longer works")).to_be_visible()
    assert "ci@token-admin-co.example" in asked[0]
    expect(page.locator("#user-tokens")).to_contain_text("No API tokens.")
    assert requests.get(f"{live.url}/api/v1/tokens", headers=theirs,
                        timeout=30).status_code == 401
    assert requests.get(f"{live.url}/api/v1/tasks", headers=admin, timeout=30).ok


def test_log_out_ends_the_session_everywhere(new_page, live):
    tenant = make_tenant(live, "Logout Browser Co")
    page = new_page()
    log_in(page, tenant.admin_email)
    cookies = page.context.cookies()
    copy = new_page()
    copy.context.add_cookies(cookies)
    copy.goto("/tasks")
    assert "/login" not in copy.url
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    copy.goto("/tasks")
    assert "/login" in copy.url
