"""A form sent after its session expired loses nothing typed, in a real Chromium against the
live server: the role form, the new-user form and the new-token form are filled in, the
cookies cleared (the session ends while the page is open), the form sent; after logging in
again the same form is back with every value as typed and a flash says so, nothing saved."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from ..conftest import Tenant, make_tenant
from .conftest import log_in

BACK = re.compile("what you typed is back, and nothing was saved")


@pytest.fixture(scope="module")
def bank(live) -> Tenant:
    return make_tenant(live, "Draft Bank")


def _form_values(page, selector: str = "main form[method=post]:has(button[type=submit])"):
    """Every named value the form would send, as a person sees it."""
    return page.locator(selector).last.evaluate("""form => [...form.elements]
        .filter(e => e.name && e.name !== 'csrf_token' && e.tagName !== 'BUTTON')
        .map(e => [e.name, e.type === 'checkbox' ? e.value + ':' + e.checked : e.value])""")


def _send_after_expiry_and_log_in(page, tenant: Tenant, button: str, path: str) -> None:
    page.context.clear_cookies()  # the session ends while the form is open
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_url(re.compile(r"/login"))
    expect(page.get_by_text(re.compile("Your session expired"))).to_be_visible()
    log_in(page, tenant.admin_email)
    page.wait_for_url(re.compile(re.escape(path) + "$"))
    expect(page.get_by_text(BACK)).to_be_visible()


def test_an_expired_session_brings_the_role_form_back(new_page, live, bank):
    page = new_page()
    log_in(page, bank.admin_email)
    page.goto("/admin/roles/new")
    page.get_by_label("Name").fill("Outlived role")
    page.get_by_label("Description").fill("Typed before the session ended")
    page.get_by_label("View scheduled reports").check()
    page.get_by_label("Edit scheduled reports").check()
    typed = _form_values(page)
    _send_after_expiry_and_log_in(page, bank, "Save", "/admin/roles/new")
    expect(page.get_by_label("Name")).to_have_value("Outlived role")
    expect(page.get_by_label("Description")).to_have_value("Typed before the session ended")
    expect(page.get_by_label("Edit scheduled reports")).to_be_checked()
    assert _form_values(page) == typed
    roles = requests.get(f"{live.url}/api/v1/roles", headers=bank.headers, timeout=30).json()
    assert "Outlived role" not in str(roles)  # nothing saved until sent again
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("Outlived role"))).to_be_visible()


def test_an_expired_session_brings_the_user_form_back(new_page, live, bank):
    page = new_page()
    log_in(page, bank.admin_email)
    page.goto("/admin/users/new")
    page.get_by_label("Email", exact=True).fill("outlived@draft-bank.example")
    page.get_by_label("Name").fill("Outlived Person")
    page.get_by_label(re.compile("Send an invitation")).uncheck()
    typed = _form_values(page)
    _send_after_expiry_and_log_in(page, bank, "Create user", "/admin/users/new")
    expect(page.get_by_label("Email", exact=True)).to_have_value("outlived@draft-bank.example")
    expect(page.get_by_label("Name")).to_have_value("Outlived Person")
    expect(page.get_by_label(re.compile("Send an invitation"))).not_to_be_checked()
    assert _form_values(page) == typed
    page.goto("/admin/users")
    expect(page.get_by_text("outlived@draft-bank.example")).to_have_count(0)  # not saved


def test_an_expired_session_brings_the_token_form_back(new_page, bank):
    page = new_page()
    log_in(page, bank.admin_email)
    page.goto("/account/tokens")
    page.get_by_label("Name").fill("Outlived token")
    page.get_by_label("Scope").select_option("ingest")
    page.get_by_label("Expires after (days)").fill("30")
    _send_after_expiry_and_log_in(page, bank, "Make token", "/account/tokens")
    expect(page.get_by_label("Name")).to_have_value("Outlived token")
    expect(page.get_by_label("Scope")).to_have_value("ingest")
    expect(page.get_by_label("Expires after (days)")).to_have_value("30")
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.locator("#tokens")).not_to_contain_text("Outlived token")  # not made yet
    page.get_by_role("button", name="Make token").click()
    expect(page.locator("#new-token")).to_contain_text("Outlived token")
