"""The task form's series fields in Chromium against the live server: day "last", an end
date that the preview follows, catch-up per task, start within, skip when empty and .csv.gz;
kept across the two steps, saved, shown in the list ("ends …") and in the edit form."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from ..conftest import make_tenant
from .conftest import log_in, screenshot


def test_series_fields_are_kept_saved_and_shown(new_page, live, problems):
    tenant = make_tenant(live, "Form Series Co")
    page = new_page()
    log_in(page, tenant.admin_email)
    page.goto("/tasks/new")
    page.get_by_label("Task name").fill("Month end")
    page.locator("input[name=channels][value=whatsapp]").check()
    page.get_by_label("Repeat").select_option("monthly")
    page.get_by_label("Day of month (1–28, or last)").fill("last")
    preview = page.locator("#preview tbody tr td:first-child")
    expect(preview).to_have_count(5)
    page.get_by_label(re.compile("Ends on")).fill("2027-02-28")
    page.get_by_label(re.compile("Ends on")).dispatch_event("change")
    # The preview follows the end date: only the runs up to it (the month ends ≤ 28 Feb).
    expect(preview.last).to_contain_text("2027-02-28")
    page.get_by_label("After downtime").select_option("each")
    page.get_by_label("Start within, minutes (0–60)").fill("7")
    page.get_by_label(re.compile("Skip when empty")).check()
    page.get_by_label(re.compile("Compressed CSV")).check()
    screenshot(page, "task-form-series")
    page.get_by_role("button", name="Next: Configure recipients").click()
    page.get_by_label("Recipient email 1").fill("ops@form-series-co.example")
    page.get_by_role("button", name="Back").click()  # step 1 again: nothing lost
    expect(page.get_by_label("After downtime")).to_have_value("each")
    expect(page.get_by_label(re.compile("Ends on"))).to_have_value("2027-02-28")
    expect(page.get_by_label(re.compile("Compressed CSV"))).to_be_checked()
    page.get_by_role("button", name="Next: Configure recipients").click()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/tasks/\d+$"))
    expect(page.locator("#ends-on")).to_contain_text("28 February 2027")
    expect(page.locator("#catch-up")).to_have_text(re.compile(r"^One run per missed time"))
    [task] = requests.get(f"{live.url}/api/v1/tasks", headers=tenant.headers,
                          timeout=30).json()["tasks"]
    assert task["schedule"]["day"] == "last" and task["ends_on"] == "2027-02-28"
    assert task["catch_up"] == "each"
    assert task["options"]["skip_empty"] is task["options"]["gzip"] is True
    assert task["options"]["spread_minutes"] == 7
    page.goto("/tasks")
    expect(page.locator("#tasks .ends")).to_have_text(re.compile(r"ends 28 Feb( 2027)?"))
    page.goto(f"/tasks/{task['id']}/edit")
    expect(page.get_by_label("Day of month (1–28, or last)")).to_have_value("last")
    expect(page.get_by_label(re.compile("Skip when empty"))).to_be_checked()
    # A bad value is shown next to its field, the rest kept.
    page.get_by_label("Start within, minutes (0–60)").fill("90")
    page.get_by_role("button", name="Next: Configure recipients").click()
    expect(page.locator("#error-options-spread_minutes")).to_contain_text("0 to 60")
    expect(page.get_by_label(re.compile("Ends on"))).to_have_value("2027-02-28")
    # The bad submit's 422 is the answer meant; Chromium logs every 4xx load as an error.
    problems.expect_statuses(422)
