"""Recipients in a real Chromium against the live server: a viewer who logs in lands on My
reports and downloads; an invited user sets a password through the emailed link and logs
in; "Forgot password" answers an unknown address exactly as a known one."""

from __future__ import annotations

import re
import time

import requests
from playwright.sync_api import expect

from tests.conftest import PASSWORD

from ..conftest import make_tenant
from .conftest import log_in, screenshot
from .test_portal import finished_run, make_task

NEW = "correct staple battery horse"


def emailed_link(mailbox, to: str, after: int = 0) -> str:
    """The password link of the newest message to ``to`` (from the aiosmtpd sink)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with mailbox.lock:
            found = [m for rcpts, m in mailbox.messages[after:] if to in rcpts]
        if found:
            text = found[-1].get_body(("plain",)).get_content()
            return re.search(r"https?://\S+(/password/\S+)", text).group(1)
        time.sleep(0.2)
    raise AssertionError(f"no mail to {to}")


def test_a_viewer_lands_on_my_reports_and_downloads(live, new_page):
    tenant = make_tenant(live, "Viewer Bank")
    rita = "rita@viewer-bank.example"
    live.cli("users", "create", "--company", tenant.slug, "--email", rita, "--password",
             PASSWORD, "--name", "Rita")
    live.cli("demo", "seed", "--company", tenant.slug, "--days", "2", "--messages", "200")
    task = make_task(live, tenant, "Rooms for Rita", [rita])
    for _ in range(2):
        run = finished_run(live, tenant, task["id"])
        assert run["status"] == "succeeded", run
    page = new_page()
    page.goto("/login")
    log_in(page, rita)
    assert page.url.endswith("/my/reports")
    expect(page.get_by_role("heading", level=1)).to_have_text("My reports")
    rows = page.locator("#my-reports tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Rooms for Rita")
    expect(rows.first).to_contain_text("(Europe/London)")
    expect(page.get_by_role("link", name="Scheduled Reports")).to_have_count(0)
    with page.expect_download() as info:
        rows.first.get_by_role("link", name="Download").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8-sig") as fh:
        assert fh.readline().strip()  # the CSV's first line
    screenshot(page, "my-reports")
    # The brand link goes home: My reports again, never a 403.
    page.get_by_role("link", name="Herald", exact=True).click()
    assert page.url.endswith("/my/reports")




def test_an_invited_user_sets_a_password_and_logs_in(live, new_page, mailbox, problems):
    tenant = make_tenant(live, "Invite Bank")
    nia = "nia@invite-bank.example"
    answer = requests.post(f"{live.url}/api/v1/users", headers=tenant.headers, timeout=60,
                           json={"email": nia, "name": "Nia", "invite": True})
    assert answer.status_code == 201, answer.text
    path = emailed_link(mailbox, nia)
    page = new_page()
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Herald")
    page.get_by_label("New password").fill("short")
    page.get_by_label("The same password again").fill("short")
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("#error-password")).to_contain_text("at least 8 characters")
    page.get_by_label("New password").fill(NEW)
    page.get_by_label("The same password again").fill(NEW)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is set")
    expect(page.get_by_label("Email")).to_have_value(nia)
    page.get_by_label("Password").fill(NEW)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My reports")
    # The link worked once.
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link does not work")
    problems.expect_statuses(410, 422)  # the short password, the used link


def test_forgot_password_answers_an_unknown_address_as_a_known_one(live, new_page, mailbox):
    tenant = make_tenant(live, "Reset Bank")

    def ask(email: str) -> str:
        page = new_page()
        page.goto("/login")
        page.get_by_role("link", name="Forgot password?").click()
        page.get_by_label("Email").fill(email)
        page.get_by_role("button", name="Send me a link").click()
        expect(page.get_by_role("status")).to_be_visible()
        # The words, not their layout: innerText's line breaks depend on whether the
        # stylesheet had been applied when it was read.
        return " ".join(page.locator("main").text_content().split())

    before = len(mailbox.messages)
    known = ask(tenant.admin_email)
    unknown = ask("nobody@reset-bank.example")
    assert known == unknown and "If an account with that address exists" in known
    path = emailed_link(mailbox, tenant.admin_email, before)
    with mailbox.lock:
        assert not any("nobody@reset-bank.example" in r for r, _ in mailbox.messages[before:])
    page = new_page()
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text("Set a new password")
