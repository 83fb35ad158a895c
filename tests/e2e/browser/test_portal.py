"""The portal in a real Chromium against the live server: log in, the two-step task form for
every creatable report type, the live preview, Run now → the run page updates itself →
Download, a recipient's email link, roles, SSO settings. (Every page at 1280 and 390 px:
test_reading.py.)"""

from __future__ import annotations

import re
import time
from email.message import EmailMessage

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import PASSWORD

from ..conftest import Tenant, make_tenant
from .conftest import log_in, screenshot


@pytest.fixture(scope="module")
def acme(live) -> Tenant:
    """A company with a few days of demo data, so reports have rows."""
    tenant = make_tenant(live, "Acme Bank")
    live.cli("demo", "seed", "--company", tenant.slug, "--days", "3", "--messages", "400")
    return tenant


def api_post(live, tenant: Tenant, path: str, payload: dict) -> dict:
    response = requests.post(f"{live.url}/api/v1{path}", json=payload, headers=tenant.headers,
                             timeout=60)
    assert response.status_code in (201, 202), response.text
    return response.json()


def make_task(live, tenant: Tenant, name: str, emails: list[str]) -> dict:
    return api_post(live, tenant, "/tasks", {
        "name": name, "report_type": "usage_by_rooms", "channels": ["whatsapp", "sms"],
        "schedule": {"kind": "daily", "time": "06:30"}, "recipients": {"emails": emails}})


def finished_run(live, tenant: Tenant, task_id: int) -> dict:
    run = api_post(live, tenant, f"/tasks/{task_id}/runs", {})
    deadline = time.monotonic() + 60
    while run["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, live.log()
        time.sleep(0.3)
        run = requests.get(f"{live.url}/api/v1/runs/{run['id']}", headers=tenant.headers,
                           timeout=30).json()
    return run


def test_log_in_lands_on_the_task_list(new_page, acme):
    page = new_page()
    page.goto("/tasks")
    assert "/login" in page.url  # the portal asks for a login first
    log_in(page, acme.admin_email)
    assert page.get_by_role("heading", level=1).count() == 1
    assert page.get_by_role("link", name="Schedule report").is_visible()


CREATABLE = [
    ("native_connection_status", "whatsapp"), ("whatsapp_inactivity", "whatsapp"),
    ("usage_by_rooms", "sms"), ("usage_by_users", "imessage"),
    ("communication_compliance", "telegram"), ("native_irregularities", "imessage"),
    ("wecom_irregularities", "wecom"), ("archive_export_email_summary", "signal"),
    ("room_metadata", "line"),
]


def test_every_creatable_type_is_created_through_the_two_step_form(new_page, live, acme):
    from jobs.reports import registry

    assert {key for key, _ in CREATABLE} == {t.key for t in registry.creatable()}
    page = new_page()
    log_in(page, acme.admin_email)
    for key, channel in CREATABLE:
        page.goto("/tasks/new")
        page.get_by_label("Task name").fill(f"Browser {key}")
        page.get_by_label("Report type").select_option(key)
        # The channels offered follow the report type chosen (once htmx swapped them in).
        page.locator(f"#type-fields[data-report-type={key}]").wait_for()
        page.locator(f"input[name=channels][value={channel}]").check()
        page.get_by_role("button", name="Next: Configure recipients").click()
        page.get_by_label("Recipient email 1").fill("ops@acme-bank.example")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r"/tasks/\d+$"))
        assert page.get_by_text(f"Task “Browser {key}” saved.").is_visible(), key
    tasks = requests.get(f"{live.url}/api/v1/tasks", headers=acme.headers,
                         timeout=30).json()["tasks"]
    made = {t["report_type"]: t for t in tasks if t["name"].startswith("Browser ")}
    assert set(made) == {key for key, _ in CREATABLE}
    assert all(made[key]["channels"] == [channel] for key, channel in CREATABLE)
    page.goto("/tasks")
    screenshot(page, "task-list")


def test_the_preview_follows_the_schedule_as_it_is_typed(new_page, acme):
    page = new_page()
    log_in(page, acme.admin_email)
    page.goto("/tasks/new")
    preview = page.locator("#preview")
    assert preview.locator("tbody tr").count() == 5
    page.get_by_label("Task name").fill("Weekly rooms")
    page.get_by_label("Repeat").select_option("weekly")
    page.get_by_label("Weekday").select_option("fri")
    page.get_by_label("Time (hh:mm)").fill("17:45")
    # htmx replaces the preview (no page load): every run is now a Friday at 17:45.
    # (Locators, not wait_for_function: the CSP allows no string evaluation in the page.)
    first_cells = preview.locator("tbody tr td:first-child")
    expect(first_cells).to_have_count(5)
    for n in range(5):
        expect(first_cells.nth(n)).to_contain_text("17:45")
    from datetime import date
    days = [date.fromisoformat(td.split()[0]).weekday()
            for td in preview.locator("tbody tr td:first-child").all_inner_texts()]
    assert days == [4] * 5
    # The first run's window in words, in the task's time zone: a week up to that Friday.
    expect(page.locator("#first-window")).to_have_text(re.compile(
        r"The first run, Fri \d+ \w+ \d{4} 17:45, covers \d+ \w+ 17:45 → \d+ \w+ 17:45 "
        r"\(Europe/London\)"))
    page.get_by_label("Time (hh:mm)").fill("25:99")
    expect(preview.locator(".error").first).to_be_visible()
    page.get_by_label("Time (hh:mm)").fill("17:45")
    expect(preview.locator("tbody tr")).to_have_count(5)
    assert page.get_by_label("Task name").input_value() == "Weekly rooms"
    screenshot(page, "task-form-preview")


def test_run_now_then_the_run_page_updates_itself_and_downloads(new_page, live, acme):
    task = make_task(live, acme, "Rooms now", [acme.admin_email])
    page = new_page()
    log_in(page, acme.admin_email)
    page.goto(f"/tasks/{task['id']}")
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    url = page.url
    # No reload: the status fragment polls itself until the run is done.
    page.locator("#run-status .badge.succeeded").first.wait_for(timeout=60_000)
    assert page.url == url
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    content = download.path().read_bytes().decode("utf-8-sig")
    assert content.splitlines()[0].count(",") >= 2
    screenshot(page, "run-page")


def _link_in(message: EmailMessage) -> str:
    body = message.get_body(("plain",)).get_content()
    return re.search(r"https?://\S+/runs/\d+\S*", body).group(0)


def test_a_recipient_follows_the_email_link_logs_in_and_downloads(new_page, live, acme,
                                                                  smtp_server):
    _, mailbox = smtp_server
    rita = "rita@acme-bank.example"
    live.cli("users", "create", "--company", acme.slug, "--email", rita, "--password",
             PASSWORD, "--name", "Rita")
    task = make_task(live, acme, "Rooms for Rita", [rita])
    run = finished_run(live, acme, task["id"])
    assert run["status"] == "succeeded", run
    deadline = time.monotonic() + 30
    while not (mails := [m for to, m in list(mailbox.messages) if rita in to
                         and m["Subject"] and "Rooms for Rita" in m["Subject"]]):
        assert time.monotonic() < deadline, "no email for Rita"
        time.sleep(0.2)
    link = _link_in(mails[-1])
    assert link.startswith(live.url), link

    page = new_page()
    page.goto(link)
    assert "/login" in page.url
    log_in(page, rita)
    assert re.search(rf"/runs/{run['id']}$", page.url), page.url
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download").click()
    assert download_info.value.suggested_filename.endswith(".csv")


def test_roles_page_creates_a_custom_role(new_page, acme):
    page = new_page()
    log_in(page, acme.admin_email)
    page.get_by_role("link", name="Roles").first.click()
    page.get_by_role("link", name=re.compile("New role")).click()
    page.get_by_label("Name").fill("Report readers")
    page.get_by_label("Description").fill("Download the room reports")
    page.locator("input[name=permissions][value='download.usage_by_rooms']").check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert page.get_by_text("Report readers").first.is_visible()


def test_sso_settings_are_saved_and_the_secret_never_shown(new_page, acme):
    page = new_page()
    log_in(page, acme.admin_email)
    page.get_by_role("link", name="Single sign-on").click()
    page.get_by_label("Issuer").fill("https://login.example.com/realms/acme")
    page.get_by_label("Client id").fill("herald")
    page.get_by_label("Client secret").fill("s3cret-value")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert page.get_by_label("Client id").input_value() == "herald"
    assert "s3cret-value" not in page.content()
