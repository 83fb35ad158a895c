"""Enter in a text field never removes, deletes, revokes or resets anything (issue 12, SPEC
§9): on every main form page of the portal, Enter is pressed in each text input of each form
in turn (the page set up afresh each time), every request it sends is checked, and what the
page holds afterwards is compared with what was there."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
from playwright.sync_api import expect

from ..conftest import Tenant, make_tenant
from .conftest import log_in
from .test_portal import make_task

TEXT_INPUTS = ("form input:visible:not([type=checkbox]):not([type=radio]):not([type=hidden])"
               ":not([type=submit]):not([type=button])")
DESTRUCTIVE = re.compile(r"/(delete|revoke|unassign|deactivate|remove|logout)\b|"
                         r"action=(remove|delete|reset|clear)", re.I)


@dataclass
class Case:
    name: str
    set_up: Callable  # (page) → None: the page as a person has it before pressing Enter
    kept: Callable  # (page) → None: what must still be there afterwards
    least: int  # text inputs the page has at least


@pytest.fixture(scope="module")
def bank(live) -> Tenant:
    tenant = make_tenant(live, "Enter Bank")
    task = make_task(live, tenant, "Kept task", [tenant.admin_email])
    role = requests.post(f"{live.url}/api/v1/roles", headers=tenant.headers, timeout=30, json={
        "name": "Kept role", "permissions": ["scheduled_reports.view"]})
    assert role.status_code == 201, role.text
    token = requests.post(f"{live.url}/api/v1/tokens", headers=tenant.headers, timeout=30,
                          json={"name": "Kept token", "scope": "read"})
    assert token.status_code == 201, token.text
    tenant.ids = {"task": task["id"], "role": role.json()["id"]}
    return tenant


def _api(live, tenant: Tenant, path: str):
    answer = requests.get(f"{live.url}/api/v1{path}", headers=tenant.headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def cases(live, tenant: Tenant) -> list[Case]:
    def step1(page):
        page.goto("/tasks/new")
        page.get_by_label("Report type").select_option("whatsapp_inactivity")
        page.locator("#type-fields[data-report-type=whatsapp_inactivity]").wait_for()
        page.get_by_label(re.compile("Inactivity threshold")).fill("9")
        # the name stays empty: Enter (Next) comes back with its error, everything kept
        page.get_by_label("Search zones").fill("kolk")

    def step1_kept(page):
        expect(page.get_by_label("Report type")).to_have_value("whatsapp_inactivity")
        expect(page.get_by_label(re.compile("Inactivity threshold"))).to_have_value("9")
        expect(page.get_by_label("Time zone")).to_have_value("Asia/Kolkata")

    def step2(page):
        page.goto("/tasks/new")
        page.get_by_label("Task name").fill("Enter keeps both")
        page.locator("input[name=channels][value=sms]").check()
        page.get_by_role("button", name="Next: Configure recipients").click()
        page.get_by_label("Recipient email 1").fill("first@enter-bank.example")
        page.get_by_role("button", name="Add recipient").click()
        page.get_by_label("Recipient email 2").fill("not an address")  # Save comes back

    def step2_kept(page):
        expect(page.get_by_label("Recipient email 1")).to_have_value("first@enter-bank.example")
        expect(page.get_by_label("Recipient email 2")).to_have_value("not an address")

    def server(page):  # step 2 of the health check: its upload server's fields
        page.goto("/tasks/new")
        page.get_by_label("Task name").fill("Enter keeps the server")
        page.get_by_label("Report type").select_option("native_connection_status")
        page.locator("#type-fields[data-report-type=native_connection_status]").wait_for()
        page.locator("input[name=channels][value=whatsapp]").check()
        page.get_by_role("button", name="Next: Configure recipients").click()
        page.get_by_label("Recipient email 1").fill("first@enter-bank.example")
        page.get_by_role("button", name="Add recipient").click()
        page.get_by_label("Recipient email 2").fill("second@enter-bank.example")
        page.wait_for_load_state()  # htmx listens once the page has loaded
        page.get_by_label("Transport").select_option("sftp")
        expect(page.get_by_label("Trusted host key")).to_be_visible()
        page.get_by_label("Host", exact=True).fill("sftp.enter-bank.example")
        page.locator("#server summary").click()

    def server_kept(page):
        for n, email in ((1, "first"), (2, "second")):
            expect(page.get_by_label(f"Recipient email {n}")).to_have_value(
                f"{email}@enter-bank.example")
        expect(page.get_by_label("Host", exact=True)).to_have_value("sftp.enter-bank.example")

    def goto(path):
        return lambda page: page.goto(path)

    def role_kept(page):
        assert any(r["name"] == "Kept role" for r in _api(live, tenant, "/roles"))

    def everything_kept(page):
        assert _api(live, tenant, f"/tasks/{tenant.ids['task']}")["name"] == "Kept task"
        role_kept(page)
        tokens = _api(live, tenant, "/tokens")
        assert any(t["name"] == "Kept token" and not t.get("revoked_at") for t in tokens)
        assert all(u["active"] for u in _api(live, tenant, "/users"))

    def sso(page):
        page.goto("/admin/sso")
        page.locator("textarea[name=role_mapping]").fill("traders = Kept role")
        page.get_by_label("Issuer").fill("https://login.enter-bank.example")

    def sso_kept(page):
        expect(page.locator("textarea[name=role_mapping]")).to_have_value("traders = Kept role")
        expect(page.get_by_label("Issuer")).to_have_value("https://login.enter-bank.example")
        everything_kept(page)

    def audit(page):
        page.goto("/admin/audit")
        page.get_by_label("Action").fill("role")

    def audit_kept(page):
        expect(page.get_by_label("Action")).to_have_value("role")

    return [Case("task form, step 1", step1, step1_kept, 6),
            Case("task form, step 2 with two recipients", step2, step2_kept, 2),
            Case("task form, step 2 with a server", server, server_kept, 12),
            Case("new role", goto("/admin/roles/new"), everything_kept, 2),
            Case("a role", goto(f"/admin/roles/{tenant.ids['role']}"), everything_kept, 0),
            Case("a task", goto(f"/tasks/{tenant.ids['task']}"), everything_kept, 0),
            Case("task list", goto("/tasks"), everything_kept, 1),
            Case("single sign-on", sso, sso_kept, 4),
            Case("new user", goto("/admin/users/new"), everything_kept, 2),
            Case("audit filters", audit, audit_kept, 4),
            Case("my reports", goto("/my/reports"), everything_kept, 2),
            Case("tokens", goto("/account/tokens"), everything_kept, 2)]


CASES = ("task form, step 1", "task form, step 2 with two recipients",
         "task form, step 2 with a server", "new role", "a role", "a task", "task list",
         "single sign-on", "new user", "audit filters", "my reports", "tokens")


@pytest.mark.parametrize("name", CASES)
def test_enter_in_every_text_input_of_every_form(new_page, live, bank, problems, name):
    case = next(c for c in cases(live, bank) if c.name == name)
    page = new_page()
    log_in(page, bank.admin_email)
    sent: list[str] = []
    page.on("request", lambda r: (r.method == "POST" or r.is_navigation_request()) and
            sent.append(f"{r.method} {r.url} {r.post_data or ''}"))
    try:
        case.set_up(page)
        count = page.locator(TEXT_INPUTS).count()
        assert count >= case.least, (case.name, count)
        for n in range(count):
            if n:
                case.set_up(page)
            field = page.locator(TEXT_INPUTS).nth(n)
            what = f"{case.name}: {field.get_attribute('name') or field.get_attribute('id')}"
            del sent[:]
            field.press("Enter")
            page.wait_for_load_state()
            bad = [s for s in sent if DESTRUCTIVE.search(s)]
            assert not bad, (what, bad)
            case.kept(page)
    finally:
        problems.expect_statuses(422)  # a form sent back with its errors


def test_enter_on_the_login_page_logs_in(new_page, bank):
    """The login page has two forms (password, single sign-on): Enter in each field sends
    its own form, never the other's."""
    page = new_page()
    page.goto("/login")
    page.get_by_label("Company (slug)").fill("enter-bank")
    page.get_by_label("Email").fill(bank.admin_email)
    page.get_by_label("Password").fill(bank.password)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(re.compile(r"/(tasks|my/reports)"))
    page.context.clear_cookies()
    page.goto("/login")
    page.get_by_label("Email").fill(bank.admin_email)
    page.get_by_label("Email").press("Enter")
    expect(page.get_by_label("Email")).to_have_value(bank.admin_email)
    assert "/login" in page.url
