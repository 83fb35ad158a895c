"""A task's and a run's actions in a real Chromium against the live server (issue 12):
Send test mails only the admin who pressed it, once however often it is clicked; Retry
failed deliveries now on a partial run delivers what failed."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from jobs.embedded_redis import free_port
from tests.delivery_servers import HOST, SECRET, USER, start_ftp

from ..conftest import Tenant, make_tenant
from .conftest import log_in
from .test_portal import api_post, finished_run, make_task


@pytest.fixture(scope="module")
def acme(live) -> Tenant:
    return make_tenant(live, "Action Bank")


def test_send_test_mails_only_the_admin_who_pressed_it(new_page, live, acme, mailbox):
    others = ["ops@action-bank.example", "cfo@action-bank.example"]
    task = make_task(live, acme, "Rooms on trial", others)
    page = new_page()
    log_in(page, acme.admin_email)
    page.goto(f"/tasks/{task['id']}")
    button = page.get_by_role("button", name="Send test")
    expect(button).to_have_attribute("title", re.compile(re.escape(acme.admin_email)))
    button.dblclick()  # the form sends once (data-once); a second POST would show the same run
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_text(f"emailed to {acme.admin_email} only")).to_be_visible()
    page.locator("#run-status .badge.succeeded").first.wait_for(timeout=60_000)
    expect(page.locator("#run-status")).to_contain_text(
        f"Send test: emailed only to {acme.admin_email}")
    expect(page.locator("#deliveries tbody tr")).to_have_count(1)
    deadline = time.monotonic() + 30
    while not (mails := [to for to, m in list(mailbox.messages)
                         if "Rooms on trial" in (m["Subject"] or "")]):
        assert time.monotonic() < deadline, "no test email"
        time.sleep(0.2)
    time.sleep(1)  # and no other
    assert [to for to, m in list(mailbox.messages)
            if "Rooms on trial" in (m["Subject"] or "")] == [[acme.admin_email]] == mails
    page.goto(f"/tasks/{task['id']}")
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(1)  # one run for the double click
    expect(rows.first).to_contain_text(f"#{run_id}")
    expect(rows.first.locator(".badge.test")).to_have_text("Test")


def test_retry_failed_deliveries_now_delivers_the_failed_upload(new_page, live, acme,
                                                                tmp_path):
    port = free_port()  # nothing listens there yet: the upload fails, the email goes
    task = api_post(live, acme, "/tasks", {
        "name": "Health upload", "report_type": "native_connection_status",
        "channels": ["whatsapp"], "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": [acme.admin_email], "server": {
            "transport": "ftp", "host": HOST, "port": port, "username": USER,
            "password": SECRET, "directory": "/in"}}})
    run = finished_run(live, acme, task["id"])
    assert run["status"] == "partial", run
    ftp = start_ftp(tmp_path / "ftp", port=port)  # the server is back
    try:
        page = new_page()
        log_in(page, acme.admin_email)
        page.goto(f"/runs/{run['id']}")
        upload = page.locator("#deliveries tbody tr", has_text="Upload to server")
        expect(upload.locator(".badge")).to_have_text("failed")
        expect(upload).to_contain_text("Next attempt")
        page.get_by_role("button", name="Retry failed deliveries now").click()
        expect(page.get_by_text("Retrying 1 failed delivery now.")).to_be_visible()
        deadline = time.monotonic() + 60
        while upload.locator(".badge").inner_text() != "sent":
            assert time.monotonic() < deadline, live.log()[-3000:]
            time.sleep(0.5)
            page.reload()
        expect(upload.locator("td").nth(3)).to_have_text("2")  # its second attempt
        expect(page.get_by_role("button", name="Retry failed deliveries now")).to_have_count(0)
        assert len(ftp.files()) == 1
    finally:
        ftp.stop()
