"""A task's page through the real server shows every option its form sets, in the form's
words, for a task created over the API; the list names the activated-task limit."""

from __future__ import annotations

import re

from .conftest import make_tenant
from .test_security import portal_login
from .test_series_live import TIMEOUT, create


def test_the_task_page_shows_the_options_set_over_the_api(live):
    tenant = make_tenant(live, "Options Page Co")
    task = create(live, tenant, catch_up="each", options={
        "excel_bom": True, "skip_empty": True, "gzip": True, "spread_minutes": 20})
    plain = create(live, tenant, name="Plain")
    browser = portal_login(live, tenant.admin_email).browser
    answer = browser.get(f"{live.url}/tasks/{task['id']}", timeout=TIMEOUT)
    assert answer.status_code == 200
    page = answer.text
    assert "Excel BOM" not in page
    for name, value in [("Excel-friendly file (UTF-8 BOM)", "yes"),
                        ("Compressed CSV (.csv.gz)", "yes"),
                        ("Skip when empty", "yes: no email when the report has no rows"),
                        ("Start within", "20 minutes: scheduled runs start up to 20 minutes "
                                         "after their time")]:
        assert re.search(rf"<dt>{re.escape(name)}</dt><dd[^>]*>{re.escape(value)}</dd>",
                         page), name
    page = browser.get(f"{live.url}/tasks/{plain['id']}", timeout=TIMEOUT).text
    assert re.search(r"<dt>Compressed CSV \(\.csv\.gz\)</dt><dd[^>]*>no</dd>", page)
    assert "0 minutes: scheduled runs start at their time" in page
    listing = browser.get(f"{live.url}/tasks", timeout=TIMEOUT).text
    assert "2 activated tasks (at most 100)." in listing
