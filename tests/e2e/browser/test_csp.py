"""htmx under the Content-Security-Policy: the preview still updates, nothing is refused."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.conftest import PASSWORD

from ..conftest import make_tenant


def test_htmx_works_under_the_csp_and_nothing_is_refused(live, browser):
    tenant = make_tenant(live, "Browser Co")
    page = browser.new_page()
    refused = []
    page.on("console", lambda m: refused.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.goto(f"{live.url}/login")
    page.fill("input[name=email]", tenant.admin_email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:not(#sso-login) button[type=submit]")
    page.wait_for_url(re.compile(r".*/(tasks|my/reports).*"))
    page.goto(f"{live.url}/tasks/new")
    with page.expect_response(re.compile(r".*/tasks/preview.*")) as preview:
        page.fill("input[name=schedule_time]", "07:45")
        page.press("input[name=schedule_time]", "Tab")
    assert preview.value.status == 200
    expect(page.locator("#preview")).to_contain_text("07:45")
    page.close()
    assert refused == []
