""""Test sign-in" on the SSO settings page in a real Chromium: the result stands next to the
provider's fields, what failed is marked on the issuer, nothing typed is lost and the secret
never comes back into the page."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.roles.oidc_provider import Provider

from ..conftest import make_tenant
from ..test_security_targets import strict  # noqa: F401 - a server without private targets
from . import pages
from .conftest import log_in


@pytest.fixture
def idp():
    provider = Provider().start()
    yield provider
    provider.stop()


def test_test_sign_in_says_what_works_and_what_not(new_page, live, idp):
    tenant = make_tenant(live, "Test Sign In Bank")
    page = new_page()
    log_in(page, tenant.admin_email)
    page.goto("/admin/sso")
    page.get_by_label("Issuer").fill(idp.issuer)
    page.get_by_label("Client id").fill("herald-browser")
    page.get_by_label("Client secret").fill("browser-typed-secret")
    page.get_by_label("Claim that carries the groups").fill("realm_roles")
    page.get_by_role("button", name="Test sign-in").click()
    result = page.locator("#sso-test-result")
    expect(result).to_have_text("Test sign-in worked: Herald can reach this provider.")
    expect(page.locator("#sso-test")).to_contain_text("Discovery document: works.")
    expect(page.locator("#sso-test")).to_contain_text("Signing keys (JWKS): works.")
    expect(page.get_by_label("Issuer")).to_have_value(idp.issuer)
    expect(page.get_by_label("Claim that carries the groups")).to_have_value("realm_roles")
    expect(page.get_by_label("Client secret")).to_have_attribute(
        "placeholder", re.compile("kept from what you typed"))
    assert "browser-typed-secret" not in page.content()

    idp.discovery_changes = {"issuer": "https://login.elsewhere.example"}
    page.get_by_role("button", name="Test sign-in").click()
    expect(result).to_contain_text("Test sign-in failed")
    issuer = page.get_by_label("Issuer")
    expect(issuer).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#error-issuer")).to_contain_text("https://login.elsewhere.example")
    expect(page.locator("#sso-test")).to_contain_text("Issuer mismatch")
    expect(issuer).to_be_focused()
    expect(page.get_by_label("Client id")).to_have_value("herald-browser")
    found = pages.axe_violations(page)
    assert not pages.serious(found), pages.describe(found)

    idp.discovery_changes = {}  # fixed at the provider: test again, then save
    page.get_by_role("button", name="Test sign-in").click()
    expect(result).to_contain_text("Test sign-in worked")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Single sign-on settings saved.")).to_be_visible()
    expect(page.get_by_label("Client secret")).to_have_attribute(
        "placeholder", re.compile("stored"))


def test_an_expired_session_keeps_the_sso_settings_typed(new_page, live):
    tenant = make_tenant(live, "Expired SSO Bank")
    page = new_page()
    log_in(page, tenant.admin_email)
    page.goto("/admin/sso")
    page.get_by_label("Issuer").fill("https://login.expired-sso.example")
    page.get_by_label("Client id").fill("herald-expired")
    page.get_by_label("Client secret").fill("expired-typed-secret")
    page.get_by_label("Claim that carries the groups").fill("realm_roles")
    page.locator("textarea[name=role_mapping]").fill("traders = no such role yet")
    page.context.clear_cookies()  # the session ends while the page is open
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/login"))
    expect(page.get_by_text(re.compile("Your session expired"))).to_be_visible()
    log_in(page, tenant.admin_email)
    page.wait_for_url(re.compile(r"/admin/sso$"))
    expect(page.get_by_label("Issuer")).to_have_value("https://login.expired-sso.example")
    expect(page.get_by_label("Client id")).to_have_value("herald-expired")
    expect(page.get_by_label("Claim that carries the groups")).to_have_value("realm_roles")
    expect(page.locator("textarea[name=role_mapping]")).to_have_value(
        "traders = no such role yet")
    expect(page.get_by_label("Client secret")).to_have_attribute(
        "placeholder", re.compile("kept from what you typed"))
    assert "expired-typed-secret" not in page.content()


def test_sso_login_to_a_private_issuer_says_why_on_the_login_page(new_page, live, strict,  # noqa: F811
                                                                   idp):
    """Without ALLOW_PRIVATE_TARGETS the login does not contact a loopback issuer (saved on the
    session's server, which allows it): the login page says why, the slug typed is kept."""
    tenant = make_tenant(live, "Private Issuer Bank")
    saved = requests.put(f"{live.url}/api/v1/sso", headers=tenant.headers, timeout=60, json={
        "enabled": True, "issuer": idp.issuer, "client_id": "herald", "client_secret": "s"})
    assert saved.status_code == 200, saved.text
    page = new_page()
    page.goto(f"{strict.url}/login")
    page.get_by_label("Company (slug)").fill(tenant.slug)
    page.get_by_role("button", name="Continue with single sign-on").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Single sign-on of Private Issuer Bank is not available")
    expect(page.get_by_role("status")).to_contain_text("127.0.0.1 is a loopback")
    expect(page.locator("#sso-login").get_by_label("Company (slug)")).to_have_value(tenant.slug)
    assert idp.heard == []
    found = pages.axe_violations(page)
    assert not pages.serious(found), pages.describe(found)
