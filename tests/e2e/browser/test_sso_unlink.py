"""Unlinking a user's single sign-on identity on their page in a real Chromium: the page shows
the provider and subject they are bound to, the button asks first (naming the user), and the
account recreated at the provider (a new subject) logs in afterwards and is bound instead."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.roles.oidc_provider import Provider

from ..conftest import make_tenant
from . import pages
from .conftest import accepting_confirm, log_in, screenshot

SECRET = "browser-unlink-secret"  # noqa: S105


@pytest.fixture
def idp():
    provider = Provider().start()
    yield provider
    provider.stop()


def _sso_login(page, slug: str, username: str) -> None:
    page.goto("/login")
    page.locator("#sso-login").get_by_label("Company (slug)").fill(slug)
    page.get_by_role("button", name="Continue with single sign-on").click()
    page.locator("input[name=username]").fill(username)  # the provider's own form
    page.locator("input[name=password]").fill("idp-pass")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def test_an_admin_unlinks_sso_and_the_new_subject_binds(new_page, live, idp, problems):
    tenant = make_tenant(live, "Browser Unlink Bank")
    bea = "bea@browser-unlink-bank.example"
    made = requests.post(f"{live.url}/api/v1/users", headers=tenant.headers, timeout=60,
                         json={"email": bea, "roles": ["company-admin"]})
    assert made.status_code == 201, made.text
    idp.add_client("herald-browser", SECRET, f"{live.url}/sso/{tenant.slug}/callback")
    idp.add_user("bea-1", "idp-pass", email=bea, email_verified=True)
    idp.add_user("bea-2", "idp-pass", email=bea, email_verified=True)  # recreated there
    saved = requests.put(f"{live.url}/api/v1/sso", headers=tenant.headers, timeout=60, json={
        "enabled": True, "issuer": idp.issuer, "client_id": "herald-browser",
        "client_secret": SECRET})
    assert saved.status_code == 200, saved.text
    person = new_page()
    _sso_login(person, tenant.slug, "bea-1")
    expect(person).not_to_have_url(re.compile(r"/login|/sso/"))
    person.context.clear_cookies()
    _sso_login(person, tenant.slug, "bea-2")
    expect(person.get_by_text("linked to another sign-in identity")).to_be_visible()
    problems.expect_statuses(403)

    page = new_page()
    log_in(page, tenant.admin_email)
    page.goto(f"/admin/users/{made.json()['id']}")
    identity = page.locator("#sso-identity")
    expect(identity).to_contain_text(f"linked to the identity provider {idp.issuer}")
    expect(identity).to_contain_text("(subject bea-1)")
    found = pages.axe_violations(page)
    assert not pages.serious(found), pages.describe(found)
    screenshot(page, "user-page")
    asked = accepting_confirm(page)
    page.get_by_role("button", name="Unlink single sign-on").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"{bea} is no longer linked to single sign-on ({idp.issuer})")
    assert asked and asked[0].startswith(f"Unlink {bea} from single sign-on")
    expect(identity).to_contain_text("not linked: the next single sign-on login")
    expect(page.get_by_role("button", name="Unlink single sign-on")).to_have_count(0)

    person.context.clear_cookies()
    _sso_login(person, tenant.slug, "bea-2")
    expect(person).not_to_have_url(re.compile(r"/login|/sso/"))
    page.reload()
    expect(identity).to_contain_text("(subject bea-2)")
    # The test provider's login form has no favicon (404): its pages are not Herald's.
    problems.seen[:] = [s for s in problems.seen
                        if not s.startswith(f"console error on {idp.issuer}/")]


def test_an_unreachable_provider_says_so_on_the_login_page(new_page, live):
    from jobs.embedded_redis import free_port

    tenant = make_tenant(live, "Unreachable Browser Bank")
    issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    saved = requests.put(f"{live.url}/api/v1/sso", headers=tenant.headers, timeout=60, json={
        "enabled": True, "issuer": issuer, "client_id": "herald", "client_secret": "s"})
    assert saved.status_code == 200, saved.text
    page = new_page()
    page.goto("/login")
    page.locator("#sso-login").get_by_label("Company (slug)").fill(tenant.slug)
    page.get_by_role("button", name="Continue with single sign-on").click()
    status = page.get_by_role("status")
    expect(status).to_contain_text("Single sign-on of Unreachable Browser Bank is not "
                                   f"available right now: its identity provider ({issuer}) "
                                   "could not be reached")
    expect(status).to_contain_text("log in with your password if you have one")
    expect(page.locator("#sso-login").get_by_label("Company (slug)")).to_have_value(tenant.slug)
    found = pages.axe_violations(page)
    assert not pages.serious(found), pages.describe(found)
