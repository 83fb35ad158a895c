"""The task form and a task's actions in a real Chromium against the live server (issue 12):
Enter never removes anything, Run now runs once, fields follow the report type and the
repeat, errors stand once at their field, Test connection marks its fields, secrets survive
a failed save, the Activated toggle, named confirmations, the limit said up front."""

from __future__ import annotations

import re
import threading
import time

import pytest
import requests
from playwright.sync_api import expect

from ..conftest import Tenant, make_tenant
from .conftest import log_in
from .test_portal import make_task


@pytest.fixture(scope="module")
def acme(live) -> Tenant:
    return make_tenant(live, "Form Bank")


@pytest.fixture
def form_errors(problems):
    """A form sent back with its errors answers 422, which Chromium logs as a console error:
    expected here, so only those lines are taken out of what fails the test."""
    yield
    problems.expect_statuses(422)


def _api(live, tenant: Tenant, path: str) -> dict | list:
    response = requests.get(f"{live.url}/api/v1{path}", headers=tenant.headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _task_named(live, tenant: Tenant, name: str) -> dict:
    return next(t for t in _api(live, tenant, "/tasks?limit=200")["tasks"] if t["name"] == name)


def _step1(page, name: str, report_type: str = "usage_by_rooms", channel: str = "sms"):
    page.goto("/tasks/new")
    page.get_by_label("Task name").fill(name)
    page.get_by_label("Report type").select_option(report_type)
    page.locator(f"#type-fields[data-report-type={report_type}]").wait_for()
    page.locator(f"input[name=channels][value={channel}]").check()


def test_enter_never_removes_a_recipient_nor_refreshes_instead_of_next(new_page, live, acme):
    page = new_page()
    log_in(page, acme.admin_email)
    _step1(page, "Enter rooms")
    page.get_by_label("Task name").press("Enter")  # step 1: Enter is Next
    expect(page.get_by_label("Recipient email 1")).to_be_visible()
    page.get_by_label("Recipient email 1").fill("first@demo.example")
    page.get_by_role("button", name="Add recipient").click()
    page.get_by_label("Recipient email 2").fill("second@demo.example")
    page.get_by_label("Recipient email 2").press("Enter")  # step 2: Enter is Save
    page.wait_for_url(re.compile(r"/tasks/\d+$"))
    task = _task_named(live, acme, "Enter rooms")
    assert sorted(task["recipients"]["emails"]) == ["first@demo.example",
                                                    "second@demo.example"]


def test_enter_in_every_text_input_of_the_form_keeps_everything(new_page, acme, form_errors):
    page = new_page()
    log_in(page, acme.admin_email)
    _step1(page, "", "wecom_irregularities", "wecom")
    page.get_by_label("Repeat").select_option("monthly")
    expect(page.get_by_label("Every X months (1–12)")).to_be_visible()
    fields = page.locator("#task-form input:visible:not([type=checkbox])")
    for n in range(fields.count()):
        field = fields.nth(n)
        name = field.get_attribute("name")
        before = {f.get_attribute("name"): f.input_value() for f in
                  page.locator("#task-form input[name]:not([type=checkbox])").all()
                  if f.get_attribute("name") not in ("csrf_token", "form_token")}
        field.press("Enter")  # the name is empty: step 1 comes back with its error
        expect(page.locator("#error-name")).to_be_visible()
        after = {f.get_attribute("name"): f.input_value() for f in
                 page.locator("#task-form input[name]:not([type=checkbox])").all()
                 if f.get_attribute("name") not in ("csrf_token", "form_token")}
        assert after == before, name
        fields = page.locator("#task-form input:visible:not([type=checkbox])")


def test_double_run_now_starts_one_run_and_both_tabs_show_it(new_page, live, acme):
    task = make_task(live, acme, "Run once", [acme.admin_email])
    first, second = new_page(), new_page()
    for page in (first, second):
        log_in(page, acme.admin_email)
        page.goto(f"/tasks/{task['id']}")
    first.get_by_role("button", name="Run now").dblclick()
    first.wait_for_url(re.compile(r"/runs/\d+$"))
    second.get_by_role("button", name="Run now").click()
    second.wait_for_url(re.compile(r"/runs/\d+$"))
    runs = _api(live, acme, f"/tasks/{task['id']}/runs")["runs"]
    if second.url == first.url:  # the run was still under way: the same one is shown
        assert len(runs) == 1
        expect(second.get_by_text("was not started again")).to_be_visible()
    else:  # the first had already finished: a second click is a new run, allowed
        assert len(runs) == 2 and runs[-1]["status"] not in ("queued", "running")


def test_two_concurrent_run_now_requests_start_one_run(live, acme):
    task = make_task(live, acme, "Run once API", [acme.admin_email])
    answers: list[requests.Response] = []
    start = threading.Barrier(2)

    def post():
        start.wait()
        answers.append(requests.post(f"{live.url}/api/v1/tasks/{task['id']}/runs",
                                     headers=acme.headers, timeout=60))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [202, 409], [a.text for a in answers]
    made = next(a.json() for a in answers if a.status_code == 202)
    refused = next(a.json() for a in answers if a.status_code == 409)
    assert refused["error"]["run_id"] == made["id"]
    assert len(_api(live, acme, f"/tasks/{task['id']}/runs")["runs"]) == 1


def test_fields_follow_the_report_type_and_the_repeat(new_page, live, acme):
    page = new_page()
    log_in(page, acme.admin_email)
    _step1(page, "WeCom follows", "usage_by_rooms", "whatsapp")
    page.get_by_label("Report type").select_option("wecom_irregularities")
    channels = page.locator("#channels input[name=channels]")
    expect(channels).to_have_count(1)
    assert channels.get_attribute("value") == "wecom"
    expect(page.get_by_label(re.compile("Org unit ids"))).to_be_visible()
    expect(page.get_by_label(re.compile("Inactivity threshold"))).to_have_count(0)
    page.get_by_label("Report type").select_option("whatsapp_inactivity")
    expect(page.get_by_label(re.compile("Inactivity threshold"))).to_be_visible()
    expect(page.get_by_label(re.compile("Org unit ids"))).to_have_count(0)
    page.get_by_label("Report type").select_option("wecom_irregularities")
    page.locator("#type-fields[data-report-type=wecom_irregularities]").wait_for()
    page.locator("input[name=channels][value=wecom]").check()
    for kind, shown, gone in [
            ("daily", [], ["Every X hours", "Weekday", "Day of month (1–28, or last)"]),
            ("hourly", ["Every X hours"], ["Weekday", "Day of month (1–28, or last)"]),
            ("weekly", ["Weekday"], ["Every X hours", "Day of month (1–28, or last)"]),
            ("monthly", ["Every X months (1–12)", "Day of month (1–28, or last)"], ["Weekday"])]:
        page.get_by_label("Repeat").select_option(kind)
        fields = page.locator("#schedule-fields")
        for label in shown:
            expect(fields).to_contain_text(label)
        for label in gone:
            expect(fields).not_to_contain_text(label)
    expect(page.locator("#schedule-words")).to_contain_text("Every month on day 1")
    page.get_by_role("button", name="Next: Configure recipients").click()
    expect(page.get_by_label("Recipient email 1")).to_be_visible()
    assert "not available" not in page.content()


def test_a_choice_made_before_htmx_is_ready_still_brings_its_fields(new_page, acme):
    """A slow page: the report type is changed while htmx is still on its way; once htmx is
    there, the fields follow the choice."""
    page = new_page()
    log_in(page, acme.admin_email)
    held = []
    page.route("**/htmx.min.js", lambda route: held.append(route))
    page.goto("/tasks/new", wait_until="commit")
    page.get_by_label("Report type").select_option("wecom_irregularities")
    while not held:
        page.wait_for_timeout(50)
    assert page.evaluate("window.htmx === undefined")  # the change was made before htmx
    held[0].continue_()
    channels = page.locator("#channels input[name=channels]")
    expect(channels).to_have_count(1)
    assert channels.get_attribute("value") == "wecom"
    expect(page.get_by_label(re.compile("Org unit ids"))).to_be_visible()


def test_fields_follow_the_report_type_without_javascript(browser, live, acme):
    context = browser.new_context(base_url=live.url, java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page, acme.admin_email)
        _step1(page, "No script", "usage_by_rooms", "whatsapp")
        page.get_by_label("Report type").select_option("wecom_irregularities")
        page.get_by_role("button", name="Show the fields of this report type").click()
        expect(page.locator("#channels input[name=channels]")).to_have_count(1)
        assert page.get_by_label("Task name").input_value() == "No script"
        page.locator("input[name=channels][value=wecom]").check()
        page.get_by_label("Repeat").select_option("weekly")
        page.get_by_role("button", name="Show the fields of this repeat").click()
        page.get_by_label("Weekday").select_option("fri")
        page.get_by_role("button", name="Next: Configure recipients").click()
        page.get_by_label("Recipient email 1").fill("ops@form-bank.example")
        page.get_by_role("button", name="Save", exact=True).click()
        page.wait_for_url(re.compile(r"/tasks/\d+$"))
        task = _task_named(live, acme, "No script")
        assert task["channels"] == ["wecom"] and task["schedule"]["weekday"] == "fri"
    finally:
        context.close()


def test_errors_stand_once_at_their_field_marked_and_focused(new_page, acme, form_errors):
    page = new_page()
    log_in(page, acme.admin_email)
    _step1(page, "Errors")
    page.get_by_label("Repeat").select_option("monthly")
    months = page.get_by_label("Every X months (1–12)")
    months.fill("13")
    page.get_by_role("button", name="Next: Configure recipients").click()
    message = page.get_by_text("Every X months must be a whole number from 1 to 12.")
    expect(message).to_have_count(1)
    months = page.get_by_label("Every X months (1–12)")
    expect(months).to_have_attribute("aria-invalid", "true")
    expect(months).to_have_attribute("aria-describedby", "error-schedule-every")
    expect(page.locator("#error-schedule-every")).to_have_text(
        "Every X months must be a whole number from 1 to 12.")
    expect(months).to_be_focused()
    assert months.input_value() == "13" and page.get_by_label("Task name").input_value() == \
        "Errors"
    page.get_by_label("Repeat").select_option("hourly")
    expect(page.get_by_text("Every X months must be")).to_have_count(0)


def test_test_connection_marks_the_fields_it_needs(new_page, acme):
    page = new_page()
    log_in(page, acme.admin_email)
    _step1(page, "Upload check", "native_connection_status", "whatsapp")
    page.get_by_role("button", name="Next: Configure recipients").click()
    server = page.locator("#server")
    expect(server.get_by_role("heading")).to_have_count(0)
    expect(server.locator("legend")).to_have_text("Upload to a server (SFTP, FTP or FTPS)")
    expect(page.get_by_role("button", name="Test connection")).to_have_count(0)
    page.wait_for_load_state()  # htmx listens once the page has loaded
    page.get_by_label("Transport").select_option("ftp")
    expect(page.get_by_role("button", name="Test connection")).to_be_visible()
    expect(page.get_by_label("Trusted host key")).to_have_count(0)  # SFTP only
    page.get_by_label("Transport").select_option("sftp")
    expect(page.get_by_label("Trusted host key")).to_be_visible()
    page.get_by_label("Password", exact=True).fill("typed-secret")
    page.get_by_role("button", name="Test connection").click()
    host = page.get_by_label("Host", exact=True)
    expect(host).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#error-recipients-server-host")).to_have_text("Host is required.")
    expect(page.locator("#server-test-result")).to_contain_text("correct the settings")
    expect(host).to_be_focused()
    expect(page.get_by_label("Password", exact=True)).to_have_attribute(
        "placeholder", re.compile("kept from what you typed"))
    assert "typed-secret" not in page.content()


def test_a_failed_save_keeps_the_secrets_and_a_pasted_key_saves(new_page, live, acme, form_errors):
    page = new_page()
    log_in(page, acme.admin_email)
    _step1(page, "Keeps secrets", "native_connection_status", "whatsapp")
    page.get_by_role("button", name="Next: Configure recipients").click()
    page.get_by_label("Recipient email 1").fill("ops@form-bank.example")
    page.wait_for_load_state()  # htmx listens once the page has loaded
    page.get_by_label("Transport").select_option("sftp")
    expect(page.get_by_label("Trusted host key")).to_be_visible()
    page.get_by_label("Host", exact=True).fill("sftp.unreachable.example")
    page.get_by_label("Username", exact=True).fill("acme")
    page.get_by_label("Password", exact=True).fill("pw-typed-once")
    page.get_by_label("Remote directory").fill("/in")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#error-recipients-server-host_key_fingerprint")).to_be_visible()
    assert "pw-typed-once" not in page.content()
    expect(page.get_by_label("Password", exact=True)).to_have_attribute(
        "placeholder", re.compile("kept from what you typed"))
    page.get_by_label("Trusted host key").fill("SHA256:" + "A" * 43)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/tasks/\d+$"))
    task = _task_named(live, acme, "Keeps secrets")
    assert task["recipients"]["server"]["host"] == "sftp.unreachable.example"
    assert task["recipients"]["server"]["host_key_fingerprint"] == "SHA256:" + "A" * 43


def test_changing_the_type_away_from_the_health_check_drops_the_server(new_page, live, acme):
    page = new_page()
    log_in(page, acme.admin_email)
    _step1(page, "Was health", "native_connection_status", "whatsapp")
    page.get_by_role("button", name="Next: Configure recipients").click()
    page.wait_for_load_state()  # htmx listens once the page has loaded
    page.get_by_label("Transport").select_option("ftp")
    expect(page.get_by_role("button", name="Test connection")).to_be_visible()
    page.get_by_label("Host", exact=True).fill("ftp.form-bank.example")
    page.get_by_label("Recipient email 1").fill("ops@form-bank.example")
    page.get_by_role("button", name="Back").click()
    page.wait_for_load_state()  # htmx listens once the page has loaded
    page.get_by_label("Report type").select_option("usage_by_rooms")
    page.locator("#type-fields[data-report-type=usage_by_rooms]").wait_for()
    page.locator("input[name=channels][value=sms]").check()
    page.get_by_role("button", name="Next: Configure recipients").click()
    expect(page.locator("#server")).to_have_count(0)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/tasks/\d+$"))
    assert "Server upload is only available" not in page.content()
    assert _task_named(live, acme, "Was health")["recipients"]["server"] is None


def test_the_run_page_stops_saying_being_built_when_done(new_page, live, acme):
    task = make_task(live, acme, "Built", [acme.admin_email])
    page = new_page()
    log_in(page, acme.admin_email)
    page.goto(f"/tasks/{task['id']}")
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    page.locator("#run-status .badge.succeeded").first.wait_for(timeout=60_000)
    expect(page.get_by_text("The report is being built")).to_have_count(0)


def test_the_activated_toggle_and_the_limit_said_up_front(new_page, live):
    tenant = make_tenant(live, "Toggle Bank")
    task = make_task(live, tenant, "Toggled", [tenant.admin_email])
    page = new_page()
    log_in(page, tenant.admin_email)
    page.goto("/tasks")
    expect(page.locator("#active-count")).to_contain_text("1 activated task (at most 100).")
    page.get_by_role("switch", name="Activated: Toggled").click()
    expect(page.get_by_text("Task “Toggled” deactivated.")).to_be_visible()
    assert not _api(live, tenant, f"/tasks/{task['id']}")["active"]
    expect(page.locator("#active-count")).to_contain_text("0 activated tasks (at most 100).")
    page.goto(f"/tasks/{task['id']}")
    page.get_by_role("switch", name="Activated: Toggled").click()
    expect(page.get_by_text("Task “Toggled” activated.")).to_be_visible()
    page.goto("/tasks/new")
    expect(page.locator("#active-count")).to_contain_text("1 activated task (at most 100).")


def test_destructive_actions_confirm_naming_their_object(new_page, live, acme):
    task = make_task(live, acme, "Doomed", [acme.admin_email])
    page = new_page()
    log_in(page, acme.admin_email)
    page.goto(f"/tasks/{task['id']}")
    seen: list[str] = []

    def dismiss(dialog):
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.get_by_role("button", name="Delete").click()
    time.sleep(0.5)
    assert seen and "“Doomed”" in seen[0]
    assert _api(live, acme, f"/tasks/{task['id']}")["name"] == "Doomed"  # kept
    roles = requests.post(f"{live.url}/api/v1/roles", headers=acme.headers, timeout=30, json={
        "name": "Doomed role", "permissions": ["scheduled_reports.view"]})
    assert roles.status_code == 201, roles.text
    page.goto(f"/admin/roles/{roles.json()['id']}")
    page.get_by_role("button", name="Delete").click()
    time.sleep(0.5)
    assert len(seen) == 2 and "“Doomed role”" in seen[1]
    expect(page.get_by_role("heading", name="Role “Doomed role”")).to_be_visible()


def test_an_expired_session_brings_the_form_back_after_logging_in(new_page, live, acme):
    page = new_page()
    log_in(page, acme.admin_email)
    _step1(page, "Outlived its session", "usage_by_rooms", "sms")
    page.get_by_label("Repeat").select_option("weekly")
    page.get_by_label("Weekday").select_option("thu")
    page.context.clear_cookies()  # the session expires while the form is open
    page.get_by_role("button", name="Next: Configure recipients").click()
    page.wait_for_url(re.compile(r"/login"))
    expect(page.get_by_text(re.compile("Your session expired"))).to_be_visible()
    log_in(page, acme.admin_email)
    page.wait_for_url(re.compile(r"/tasks/new$"))
    assert page.get_by_label("Task name").input_value() == "Outlived its session"
    assert page.get_by_label("Weekday").input_value() == "thu"
    assert page.locator("input[name=channels][value=sms]").is_checked()
    page.get_by_role("button", name="Next: Configure recipients").click()
    expect(page.get_by_label("Recipient email 1")).to_be_visible()


def test_what_is_ticked_while_the_type_fields_load_stays(new_page, acme):
    """The report type's fields are fetched and swapped in: a channel ticked and a number
    typed while that request is on its way are in the fields that replace them."""
    page = new_page()
    log_in(page, acme.admin_email)
    page.goto("/tasks/new")
    held = []
    page.route(re.compile(r"/tasks/channels\?"), lambda route: held.append(route))
    page.get_by_label("Report type").select_option("usage_by_users")
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(20)
    assert held, "the report type's fields were never asked for"
    page.locator("input[name=channels][value=sms]").check()
    page.locator("input[name=channels][value=imessage]").check()
    held[0].continue_()
    page.locator("#type-fields[data-report-type=usage_by_users]").wait_for()
    assert page.locator("input[name=channels][value=sms]").is_checked()
    assert page.locator("input[name=channels][value=imessage]").is_checked()
    assert not page.locator("input[name=channels][value=whatsapp]").is_checked()
    page.unroute(re.compile(r"/tasks/channels\?"))
    page.get_by_label("Report type").select_option("whatsapp_inactivity")
    page.locator("#type-fields[data-report-type=whatsapp_inactivity]").wait_for()
    expect(page.locator("input[name=channels]")).to_have_count(1)  # sms is not one of its own
    assert not page.locator("input[name=channels][value=whatsapp]").is_checked()


def test_sso_settings_say_every_error_at_once_and_keep_the_secret(new_page, acme, form_errors):
    page = new_page()
    log_in(page, acme.admin_email)
    page.goto("/admin/sso")
    page.get_by_label("Single sign-on is on").check()
    page.get_by_label("Client id").fill("herald")
    page.get_by_label("Client secret").fill("typed-sso-secret")
    page.locator("textarea[name=role_mapping]").fill("no equals sign")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text(re.compile("Line 1: write"))).to_be_visible()
    expect(page.get_by_text("Issuer is required to turn single sign-on on.")).to_be_visible()
    expect(page.get_by_label("Client secret")).to_have_attribute(
        "placeholder", re.compile("kept from what you typed"))
    assert "typed-sso-secret" not in page.content()


def test_duplicate_a_task_and_pick_a_time_zone(new_page, live, acme):
    task = make_task(live, acme, "Original", [acme.admin_email])
    page = new_page()
    log_in(page, acme.admin_email)
    page.goto(f"/tasks/{task['id']}")
    expect(page.locator("#run-now-covers")).to_contain_text("Run now builds the report")
    page.get_by_role("link", name="Duplicate").click()
    expect(page.get_by_label("Task name")).to_have_value("Copy of Original")
    zone = page.get_by_label("Time zone")
    assert zone.locator("option").first.get_attribute("value") == "Europe/London"
    assert zone.locator("option[value='US/Eastern'], option[value='Asia/Calcutta']").count() == 0
    expect(zone.locator("option[value='Asia/Kolkata']")).to_have_text("Asia/Kolkata (UTC+05:30)")
    zone.select_option("Asia/Kolkata")
    expect(page.locator("#preview h2")).to_contain_text("Asia/Kolkata")
    page.get_by_role("button", name="Next: Configure recipients").click()
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/tasks/\d+$"))
    copy = _task_named(live, acme, "Copy of Original")
    assert copy["id"] != task["id"] and copy["schedule"]["timezone"] == "Asia/Kolkata"
    assert copy["recipients"]["emails"] == [acme.admin_email]
