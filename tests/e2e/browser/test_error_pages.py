"""Error pages in a real browser: 404, 403, 405 and an expired form are pages of the portal,
with its navigation, words people use and a link that leads on; they pass the same checks as
every other page (no sideways scrolling, axe-core, touch targets). And the favicon."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import PASSWORD

from ..conftest import make_tenant
from .conftest import WIDTHS, log_in, screenshot
from .test_reading import _check


@pytest.fixture(scope="module")
def initech(live):
    tenant = make_tenant(live, "Initech Bank")
    live.cli("users", "create", "--company", tenant.slug, "--email", "milton@initech.example",
             "--password", PASSWORD, "--name", "Milton")
    return tenant


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_error_pages_are_pages_of_the_portal(new_page, live, problems, initech, width):
    page = new_page(width)
    found: list[str] = []

    # Logged out: an unknown address, and a form-only address opened directly.
    response = page.goto("/no-such-page")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    found += _check(page, "404 logged out", "/no-such-page", width)
    response = page.goto("/logout")
    assert response.status == 405
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "This address can’t be opened like that")
    found += _check(page, "405", "/logout", width)

    # Logged in: a missing task, from the task list; the way forward leads somewhere real.
    log_in(page, initech.admin_email)
    response = page.goto("/tasks/999999", referer=f"{live.url}/tasks")
    assert response.status == 404
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    found += _check(page, "404", "/tasks/999999", width)
    page.get_by_role("link", name="Back to the page you came from").click()
    assert page.url.endswith("/tasks")
    page.goto("/tasks/999999", referer=f"{live.url}/tasks")  # back offered: go on elsewhere
    page.get_by_role("link", name="Go to My reports").click()
    page.wait_for_url(re.compile(r"/my/reports$"))

    # A form sent with a stale CSRF token (an expired session): nothing changes, and back.
    page.goto("/tasks")
    page.locator("#alerts input[name=csrf_token]").evaluate("e => { e.value = 'stale'; }")
    page.locator("#alerts").get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("This form has expired")
    found += _check(page, "CSRF", "/alerts", width)
    if width == WIDTHS["phone"]:
        screenshot(page, "error-page-phone")
    page.get_by_role("link", name="Back to the page you came from").click()
    page.wait_for_url(re.compile(r"/tasks$"))

    # No permission: the page names it, and never offers the page that refused.
    other = new_page(width)
    log_in(other, "milton@initech.example")
    response = other.goto("/admin/roles")
    assert response.status == 403
    expect(other.get_by_text("You need the permission “Manage users and roles”.")).to_be_visible()
    expect(other.get_by_role("button", name="Log out, to log in as someone else")).to_be_visible()
    assert other.locator("ul.ways a[href='/admin/roles']").count() == 0
    found += _check(other, "403", "/admin/roles", width)
    assert not found, "\n".join(found)
    # Chromium logs each error answer as a console error; those are the point here.
    problems.expect_statuses(400, 403, 404, 405)


def test_the_favicon_is_served(live):
    page = requests.get(f"{live.url}/login", timeout=30).text
    icon = re.search(r'<link rel="icon"[^>]*href="([^"]+)"', page).group(1)
    for path in (icon, "/favicon.ico"):
        response = requests.get(live.url + path, timeout=30)
        assert response.status_code == 200, path
        assert response.headers["Content-Type"].startswith("image/svg+xml"), path
