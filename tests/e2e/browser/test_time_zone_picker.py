"""The task form's time-zone picker in a real Chromium: a search box narrows the list
("kolk" → Asia/Kolkata) and the preview follows; without JavaScript the list alone works."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..conftest import Tenant, make_tenant
from . import pages
from .conftest import log_in
from .test_task_form import _task_named


@pytest.fixture(scope="module")
def acme(live) -> Tenant:
    return make_tenant(live, "Zone Bank")


def test_type_kolk_and_pick_asia_kolkata(new_page, live, acme):
    page = new_page()
    log_in(page, acme.admin_email)
    page.goto("/tasks/new")
    page.get_by_label("Task name").fill("Kolkata mornings")
    page.locator("input[name=channels][value=sms]").check()
    zone = page.get_by_label("Time zone")
    search = page.get_by_label("Search zones")
    expect(search).to_be_visible()
    search.fill("kolk")
    expect(page.locator("#timezone-matches")).to_have_text("1 zone matches.")
    expect(zone.locator("option:not([hidden])")).to_have_text(["Asia/Kolkata (UTC+05:30)"])
    expect(zone).to_have_value("Asia/Kolkata")  # the only match is chosen
    expect(page.locator("#preview h2")).to_contain_text("Asia/Kolkata")
    found = pages.axe_violations(page)  # the search box, its label and its live count
    assert found == [] or not [v for v in found if "timezone" in str(v["nodes"])], \
        pages.describe(found)
    assert not pages.serious(found), pages.describe(found)
    search.press("Enter")  # confirms the choice: the list takes the focus, nothing is sent
    expect(zone).to_be_focused()
    assert page.url.endswith("/tasks/new")
    search.fill("+05:45")  # an offset finds its zones too
    expect(zone.locator("option:not([hidden])")).to_have_text(["Asia/Kathmandu (UTC+05:45)"])
    search.fill("nowhere-at-all")
    expect(page.locator("#timezone-matches")).to_have_text("No zone matches “nowhere-at-all”.")
    expect(zone).to_have_value("Asia/Kathmandu")  # nothing matches: the choice stays
    search.fill("kolk")
    zone.select_option("Asia/Kolkata")
    page.get_by_role("button", name="Next: Configure recipients").click()
    page.get_by_label("Recipient email 1").fill("ops@form-bank.example")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/tasks/\d+$"))
    assert _task_named(live, acme, "Kolkata mornings")["schedule"]["timezone"] == "Asia/Kolkata"


def test_without_javascript_the_list_alone(browser, live, acme):
    context = browser.new_context(base_url=live.url, java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page, acme.admin_email)
        page.goto("/tasks/new")
        expect(page.get_by_label("Search zones")).to_be_hidden()
        page.get_by_label("Time zone").select_option("Asia/Kolkata")
        page.get_by_role("button", name="Update preview").click()
        expect(page.locator("#preview h2")).to_contain_text("Asia/Kolkata")
    finally:
        context.close()
