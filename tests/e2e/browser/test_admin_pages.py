"""Rough edges of the admin pages in a real Chromium: the Users page's buttons sit together on
the right as on the Roles page; the audit log shows details as written ("Zoë’s", "••••", not
"\\u2022") and each time on one line, its Since/Until boxes take a local time in the company's
zone and a bad one shows its error and no events; a new user without an email is told it is
required; a recipient that is no address is marked invalid, not also said to "get the email
only"; on a phone the "Give" role button is not squeezed into "Giv/e"."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from ..conftest import make_tenant
from ..test_audit_filters_live import SUMMER, add_events
from . import pages
from .conftest import WIDTHS, log_in, screenshot


@pytest.fixture(scope="module")
def admin_co(live):
    return make_tenant(live, "Admin Pages Co")


def test_the_users_pages_buttons_sit_together_on_the_right(new_page, admin_co):
    page = new_page()
    log_in(page, admin_co.admin_email)
    page.goto("/admin/users")
    bar = page.locator(".bar").first.bounding_box()
    roles = page.get_by_role("link", name="Roles", exact=True).and_(
        page.locator("main a")).bounding_box()
    new = page.get_by_role("link", name="New user").bounding_box()
    # Side by side at the right end of the heading's bar, as on the Roles page.
    assert abs(roles["y"] - new["y"]) < 2
    assert 0 < new["x"] - (roles["x"] + roles["width"]) < 20
    assert abs((new["x"] + new["width"]) - (bar["x"] + bar["width"])) < 2
    screenshot(page, "users-list")


def test_the_audit_log_shows_details_as_written_and_times_on_one_line(new_page, admin_co):
    page = new_page()
    log_in(page, admin_co.admin_email)
    page.goto("/account/tokens")
    page.get_by_label("Name").fill("Zoë’s export")
    page.get_by_role("button", name="Make token").click()
    expect(page.locator("#new-token code")).to_contain_text("hrld_")
    page.goto("/admin/audit?action=token.create")
    row = page.locator("#audit tbody tr").first
    details = row.locator("td").nth(4)
    expect(details).to_contain_text("Zoë’s export")
    expect(details).to_contain_text("••••")  # the token masked, readably
    assert "\\u" not in details.inner_text()
    when = row.locator("td").first
    lines = when.evaluate("td => { const r = document.createRange(); r.selectNodeContents(td);"
                          " return new Set([...r.getClientRects()].map(c => c.top)).size; }")
    assert lines == 1, when.inner_text()
    screenshot(page, "audit-log")


def test_the_audit_logs_period_boxes_take_a_local_time_and_a_bad_one_shows_no_events(
        new_page, live, problems):
    tenant = make_tenant(live, "Audit Boxes Co")
    add_events(live, tenant.slug, [("task.update", SUMMER)])  # 11:30 in London
    page = new_page()
    log_in(page, tenant.admin_email)
    page.goto("/admin/audit")
    since = page.get_by_label("Since (Europe/London)")
    until = page.get_by_label("Until (Europe/London)")
    expect(since).to_have_attribute("type", "datetime-local")
    since.fill("2026-07-01T11:00")
    until.fill("2026-07-01T12:00")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td").nth(2)).to_have_text("task.update")
    expect(since).to_have_value("2026-07-01T11:00")
    found = pages.axe_violations(page)
    assert not pages.serious(found), pages.describe(found)
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert len(exported) == 2 and ",task.update," in exported[1]

    since.fill("1900-01-01T00:00")  # a time the log cannot hold
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#error-since")).to_contain_text("from 1970 on")
    expect(since).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#audit")).to_have_count(0)
    expect(page.get_by_text("The events are shown once the filters are fixed.")).to_be_visible()
    found = pages.axe_violations(page)
    assert not pages.serious(found), pages.describe(found)
    problems.expect_statuses(422)


def test_a_new_user_without_an_email_is_told_it_is_required(new_page, admin_co, problems):
    page = new_page()
    log_in(page, admin_co.admin_email)
    page.goto("/admin/users/new")
    page.get_by_label("Name").fill("Nia")
    page.get_by_label("Name").press("Enter")
    expect(page.locator("#error-email")).to_have_text("An email address is required.")
    expect(page.get_by_label("Name")).to_have_value("Nia")
    problems.expect_statuses(422)


def test_an_invalid_recipient_is_marked_invalid_only(new_page, admin_co, problems):
    page = new_page()
    log_in(page, admin_co.admin_email)
    page.goto("/tasks/new")
    page.get_by_label("Task name").fill("Invalid recipient")
    page.locator("input[name=channels][value=whatsapp]").check()
    page.get_by_role("button", name="Next: Configure recipients").click()
    page.get_by_label("Recipient email 1").fill("not-an-email")
    page.get_by_label("Recipient email 1").press("Enter")
    expect(page.locator("#emails .field-error")).to_contain_text("is not a valid email address")
    expect(page.locator("#emails .warning")).to_have_count(0)  # no "gets the email only"
    expect(page.get_by_label("Recipient email 1")).to_have_value("not-an-email")
    problems.expect_statuses(422)


def test_the_give_role_button_keeps_its_word_on_one_line_on_a_phone(new_page, live, admin_co):
    made = requests.post(f"{live.url}/api/v1/users", headers=admin_co.headers, timeout=30,
                         json={"email": "nia@admin-pages-co.example"})
    assert made.status_code == 201, made.text
    page = new_page(WIDTHS["phone"])
    log_in(page, admin_co.admin_email)
    page.goto(f"/admin/users/{made.json()['id']}")
    give = page.get_by_role("button", name="Give", exact=True)
    lines = give.evaluate("b => { const r = document.createRange(); r.selectNodeContents(b);"
                          " return new Set([...r.getClientRects()].map(c => c.top)).size; }")
    assert lines == 1, "the button's word is broken over lines"
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS["phone"]
    screenshot(page, "user-phone")


def test_giving_a_role_starts_from_no_role(new_page, live, admin_co):
    """The role list starts on "Choose a role…": one press of Give never makes someone an
    administrator (the first role by name)."""
    made = requests.post(f"{live.url}/api/v1/users", headers=admin_co.headers, timeout=30,
                         json={"email": "ola@admin-pages-co.example"})
    assert made.status_code == 201, made.text
    page = new_page()
    log_in(page, admin_co.admin_email)
    page.goto(f"/admin/users/{made.json()['id']}")
    choice = page.get_by_label("Give role")
    expect(choice).to_have_value("")
    page.get_by_role("button", name="Give", exact=True).click()  # the browser asks to choose
    assert choice.evaluate("select => select.validity.valueMissing")
    expect(page.locator("#user-roles, table.list").first).not_to_contain_text("company-admin")
    choice.select_option(label="scheduled-reports.viewer")
    page.get_by_role("button", name="Give", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("now holds “scheduled-reports.viewer”")
    roles = requests.get(f"{live.url}/api/v1/users/{made.json()['id']}",
                         headers=admin_co.headers, timeout=30).json()["roles"]
    assert [r["role"] for r in roles] == ["scheduled-reports.viewer"]
