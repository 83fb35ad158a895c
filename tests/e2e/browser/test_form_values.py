"""The task form never loses a typed value (issue 12): every field of both steps is filled,
each error is forced in turn, and after each the form holds exactly what was typed — the
visible fields and the other step's hidden ones, secrets kept server-side, never echoed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..conftest import Tenant, make_tenant
from .conftest import log_in
from .test_task_form import _task_named, form_errors  # noqa: F401 - a fixture


@pytest.fixture(scope="module")
def acme(live) -> Tenant:
    return make_tenant(live, "Values Bank")

FINGERPRINT = "SHA256:" + "B" * 43
SECRETS = ("server-pw-typed", "proxy-pw-typed")


def snapshot(page) -> list[tuple[str, str]]:
    """Every named value the form would send (passwords aside: never echoed)."""
    pairs = page.locator("#task-form").evaluate("""form => [...form.elements]
        .filter(e => e.name && !['csrf_token', 'form_token', 'step', 'action'].includes(e.name)
                     && e.type !== 'password' && e.tagName !== 'BUTTON')
        .map(e => [e.name, e.type === 'checkbox' ? (e.checked ? e.value : '') : e.value])""")
    return sorted(tuple(p) for p in pairs if p[1] != "" or not p[0].startswith("channels"))


def expect_secrets_kept(page) -> None:
    content = page.content()
    assert not any(s in content for s in SECRETS)
    for label in ("Password", "Proxy password"):
        expect(page.get_by_label(label, exact=True)).to_have_attribute(
            "placeholder", re.compile("kept from what you typed"))


def fill_step1(page) -> None:
    page.goto("/tasks/new")
    page.get_by_label("Task name").fill("Every field kept")
    for rtype, label, value in [("whatsapp_inactivity", "Inactivity threshold", "21"),
                                ("wecom_irregularities", "Org unit ids", "ou-7, ou-9")]:
        page.get_by_label("Report type").select_option(rtype)
        page.locator(f"#type-fields[data-report-type={rtype}]").wait_for()
        page.get_by_label(re.compile(label)).fill(value)
    page.get_by_label("Report type").select_option("native_connection_status")
    page.locator("#type-fields[data-report-type=native_connection_status]").wait_for()
    for channel in ("whatsapp", "imessage"):
        page.locator(f"input[name=channels][value={channel}]").check()
    page.get_by_label("Repeat").select_option("monthly")
    page.get_by_label("Every X months (1–12)").fill("2")
    page.get_by_label("Day of month (1–28, or last)").fill("15")
    page.get_by_label("Time (hh:mm)").fill("07:15")
    page.get_by_label("Time zone").select_option("Asia/Kolkata")
    page.get_by_label(re.compile("Ends on")).fill("2031-05-31")
    page.get_by_label("After downtime").select_option("each")
    page.get_by_label(re.compile("Start within")).fill("5")
    for label in ("Skip when empty", "Compressed CSV", "Excel-friendly file"):
        page.get_by_label(re.compile(label)).check()


def fill_step2(page) -> None:
    page.get_by_label("Recipient email 1").fill("first@form-bank.example")
    page.get_by_role("button", name="Add recipient").click()
    page.get_by_label("Recipient email 2").fill("second@form-bank.example")
    page.wait_for_load_state()  # htmx listens once the page has loaded
    page.get_by_label("Transport").select_option("sftp")
    expect(page.get_by_label("Trusted host key")).to_be_visible()
    for label, value in [("Host", "sftp.form-bank.example"), ("Port", "2222"),
                         ("Username", "acme"), ("Password", SECRETS[0]),
                         ("Remote directory", "/in/reports"), ("Trusted host key", FINGERPRINT)]:
        page.get_by_label(label, exact=True).fill(value)
    page.locator("#server summary").click()
    page.get_by_label("Proxy type").select_option("socks5")
    for label, value in [("Proxy host", "proxy.form-bank.example"), ("Proxy port", "1080"),
                         ("Proxy username", "squid"), ("Proxy password", SECRETS[1])]:
        page.get_by_label(label, exact=True).fill(value)


def force(page, button: str, error_id: str, set_bad, set_good, expected_bad) -> None:
    """Make one field wrong, send, see its error, compare every value, put it right."""
    set_bad()
    typed = snapshot(page)
    assert expected_bad(typed), typed
    page.get_by_role("button", name=button, exact=True).click()
    expect(page.locator(f"#{error_id}")).to_be_visible()
    assert snapshot(page) == typed, error_id
    set_good()


def test_every_value_survives_every_error(new_page, live, acme, form_errors):  # noqa: F811
    page = new_page()
    log_in(page, acme.admin_email)
    fill_step1(page)
    page.get_by_role("button", name="Next: Configure recipients").click()
    fill_step2(page)
    page.get_by_role("button", name="Back").click()  # step 1 now carries step 2, hidden
    expect(page.get_by_label("Task name")).to_have_value("Every field kept")
    whole = snapshot(page)
    assert ("emails", "second@form-bank.example") in whole and ("proxy_port", "1080") in whole

    def field(label, bad, good, error_id, *, exact=False):
        locator = page.get_by_label(label, exact=True) if exact else page.get_by_label(
            re.compile(re.escape(label)))
        return (error_id, lambda: locator.fill(bad), lambda: locator.fill(good),
                lambda typed: any(v == bad for _, v in typed) or bad == "")

    def channels(check: bool):
        def act():
            for channel in ("whatsapp", "imessage"):
                page.locator(f"input[name=channels][value={channel}]").set_checked(check)
        return act

    for error_id, bad, good, check in [
            field("Task name", "", "Every field kept", "error-name"),
            field("Time (hh:mm)", "25:99", "07:15", "error-schedule-time"),
            field("Every X months (1–12)", "13", "2", "error-schedule-every"),
            field("Day of month (1–28, or last)", "31", "15", "error-schedule-day"),
            field("Ends on", "1960-01-01", "2031-05-31", "error-ends_on"),
            field("Start within", "99", "5", "error-options-spread_minutes"),
            ("error-channels", channels(False), channels(True), lambda typed: True)]:
        force(page, "Next: Configure recipients", error_id, bad, good, check)
    assert snapshot(page) == whole

    # The inactivity threshold is checked where its report type shows it.
    page.get_by_label("Report type").select_option("whatsapp_inactivity")
    page.locator("#type-fields[data-report-type=whatsapp_inactivity]").wait_for()
    page.locator("input[name=channels][value=whatsapp]").check()
    days = page.get_by_label(re.compile("Inactivity threshold"))
    expect(days).to_have_value("21")
    force(page, "Next: Configure recipients", "error-options-inactivity_days",
          lambda: days.fill("0"), lambda: days.fill("21"), lambda typed: True)
    expect(page.get_by_label(re.compile("Org unit ids"))).to_have_count(0)
    assert ("org_unit_ids", "ou-7, ou-9") in snapshot(page)
    page.get_by_label("Report type").select_option("native_connection_status")
    page.locator("#type-fields[data-report-type=native_connection_status]").wait_for()
    channels(True)()
    assert snapshot(page) == whole

    page.get_by_role("button", name="Next: Configure recipients").click()
    expect(page.get_by_label("Recipient email 2")).to_have_value("second@form-bank.example")
    expect_secrets_kept(page)
    step2 = snapshot(page)
    for error_id, bad, good, check in [
            field("Recipient email 2", "not-an-email", "second@form-bank.example",
                  "error-recipients-emails-1"),
            field("Host", "", "sftp.form-bank.example", "error-recipients-server-host",
                  exact=True),
            field("Port", "99999", "2222", "error-recipients-server-port", exact=True),
            field("Trusted host key", "not-a-key", FINGERPRINT,
                  "error-recipients-server-host_key_fingerprint", exact=True),
            field("Proxy port", "abc", "1080", "error-recipients-server-proxy-port",
                  exact=True)]:
        force(page, "Save", error_id, bad, good, check)
        expect_secrets_kept(page)
    assert snapshot(page) == step2
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/tasks/\d+$"))
    task = _task_named(live, acme, "Every field kept")
    assert task["recipients"]["emails"] == ["first@form-bank.example",
                                            "second@form-bank.example"]
    server = task["recipients"]["server"]
    assert (server["host"], server["port"], server["directory"], server["proxy"]["port"]) == \
        ("sftp.form-bank.example", 2222, "/in/reports", 1080)
    assert task["schedule"] == {"kind": "monthly", "every": 2, "day": 15, "time": "07:15",
                                "timezone": "Asia/Kolkata"} or \
        task["schedule"]["timezone"] == "Asia/Kolkata", task["schedule"]
    assert task["options"]["spread_minutes"] == 5 and task["options"]["gzip"] is True
    assert task["ends_on"] == "2031-05-31" and task["catch_up"] == "each"


def test_an_expired_session_keeps_every_value_and_the_secrets_just_typed(new_page, live, acme):
    """The session ends while step 2 is open, after passwords were typed and before any
    submit kept them: after logging in again the form is back with every value, and the
    passwords are kept server-side (never echoed)."""
    page = new_page()
    log_in(page, acme.admin_email)
    fill_step1(page)
    page.get_by_label("Task name").fill("Outlived with secrets")
    page.get_by_role("button", name="Next: Configure recipients").click()
    fill_step2(page)  # the passwords are typed now, sent for the first time below
    typed = snapshot(page)
    page.context.clear_cookies()
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/login"))
    log_in(page, acme.admin_email)
    page.wait_for_url(re.compile(r"/tasks/new$"))
    expect(page.get_by_label("Recipient email 2")).to_have_value("second@form-bank.example")
    assert snapshot(page) == typed
    expect_secrets_kept(page)
