"""A task's page in Chromium: every option its form sets, in the form's words, and no
serious axe finding; the list names the activated-task limit."""

from __future__ import annotations

from playwright.sync_api import expect

from ..conftest import make_tenant
from . import pages
from .conftest import log_in, screenshot
from .test_portal import api_post


def test_the_task_page_shows_its_options_in_the_form_words(new_page, live):
    tenant = make_tenant(live, "Options Shown Co")
    task = api_post(live, tenant, "/tasks", {
        "name": "Options", "report_type": "usage_by_rooms", "channels": ["sms"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": [f"ops@{tenant.slug}.example"]}, "catch_up": "each",
        "options": {"excel_bom": True, "skip_empty": True, "gzip": True, "spread_minutes": 9}})
    page = new_page()
    log_in(page, tenant.admin_email)
    page.goto(f"/tasks/{task['id']}/edit")
    for label in ("Excel-friendly file (UTF-8 BOM)", "Skip when empty", "Compressed CSV"):
        expect(page.get_by_label(label, exact=False)).to_be_checked()
    expect(page.get_by_label("Start within, minutes (0–60)")).to_have_value("9")
    page.goto(f"/tasks/{task['id']}")
    facts = page.locator("dl.facts")
    for term in ("Excel-friendly file (UTF-8 BOM)", "Skip when empty",
                 "Compressed CSV (.csv.gz)", "Start within", "After downtime"):
        expect(facts.locator("dt", has_text=term)).to_have_count(1)
    expect(facts).not_to_contain_text("Excel BOM")
    expect(page.locator("#option-excel_bom")).to_have_text("yes")
    expect(page.locator("#option-gzip")).to_have_text("yes")
    expect(page.locator("#option-skip_empty")).to_have_text(
        "yes: no email when the report has no rows")
    expect(page.locator("#option-spread_minutes")).to_have_text(
        "9 minutes: scheduled runs start up to 9 minutes after their time")
    found = pages.axe_violations(page)
    assert not pages.serious(found), pages.describe(found)
    screenshot(page, "task-page-options")
    page.goto("/tasks")
    expect(page.locator("#active-count")).to_contain_text("1 activated task (at most 100).")
