"""A password reset ends the user's other logins, in a real Chromium: one person logged in
in two browsers resets the password through the emailed link in one; the other's next page
is the login page."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.conftest import PASSWORD

from ..conftest import make_tenant
from .conftest import log_in
from .test_recipients import NEW, emailed_link


def test_a_reset_through_the_emailed_link_logs_the_other_browser_out(live, new_page,
                                                                      mailbox):
    tenant = make_tenant(live, "Two Browsers Bank")
    rita = "rita@two-browsers-bank.example"
    live.cli("users", "create", "--company", tenant.slug, "--email", rita, "--password",
             PASSWORD, "--name", "Rita")
    laptop, phone = new_page(), new_page(390)
    for page in (laptop, phone):
        page.goto("/login")
        log_in(page, rita)
        expect(page.get_by_role("heading", level=1)).to_have_text("My reports")

    before = len(mailbox.messages)
    laptop.goto("/password/forgot")
    laptop.get_by_label("Email").fill(rita)
    laptop.get_by_role("button", name="Send me a link").click()
    expect(laptop.get_by_role("status")).to_be_visible()
    laptop.goto(emailed_link(mailbox, rita, before))
    expect(laptop.get_by_role("heading", level=1)).to_have_text("Set a new password")
    laptop.get_by_label("New password").fill(NEW)
    laptop.get_by_label("The same password again").fill(NEW)
    laptop.get_by_role("button", name="Set password").click()
    expect(laptop.get_by_role("status")).to_contain_text("Your password is set")

    # The phone, still showing My reports, goes anywhere: the login page.
    phone.reload()
    assert "/login" in phone.url
    expect(phone.get_by_role("heading", level=1)).to_have_text("Log in to Herald")
    expect(phone.get_by_role("status")).to_contain_text("Please log in to see this page.")
    log_in(phone, rita, NEW)  # the new password, on the login page it was sent to
    expect(phone.get_by_role("heading", level=1)).to_have_text("My reports")
