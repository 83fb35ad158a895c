"""Single sign-on through the real server: the API's user shows the identity it is linked
to; an administrator unlinks it over the API so that the account recreated at the provider
(a new subject) can log in; a provider that cannot be reached sends the person back to the
login page, not to an error page."""

from __future__ import annotations

import html

import requests

from jobs.embedded_redis import free_port
from tests.roles.oidc_provider import Provider

from .conftest import make_tenant

SECRET = "live-unlink-secret"  # noqa: S105


def _sso_login(live, slug: str, username: str,
               browser: requests.Session | None = None) -> requests.Response:
    """Herald → the provider's login form → Herald's callback; Herald's last answer."""
    browser = browser or requests.Session()
    start = browser.get(f"{live.url}/sso/{slug}/login", allow_redirects=False, timeout=60)
    assert start.status_code == 302, start.text[:2000]
    answer = requests.post(start.headers["Location"], allow_redirects=False, timeout=30,
                           data={"username": username, "password": "idp-pass"})
    assert answer.status_code == 302, answer.text
    return browser.get(answer.headers["Location"], allow_redirects=False, timeout=60)


def _signed_in(live, browser: requests.Session) -> bool:
    answer = browser.get(f"{live.url}/my/reports", allow_redirects=False, timeout=60)
    assert answer.status_code == 200 or answer.headers["Location"].startswith("/login")
    return answer.status_code == 200


def _sso(live, tenant, issuer: str) -> None:
    saved = requests.put(f"{live.url}/api/v1/sso", headers=tenant.headers, timeout=60, json={
        "enabled": True, "issuer": issuer, "client_id": "herald-live",
        "client_secret": SECRET})
    assert saved.status_code == 200, saved.text


def _api_user(live, tenant, url: str, email: str) -> dict:
    """The user as GET /users/{id} answers, after checking that the list says the same."""
    alone = requests.get(url, headers=tenant.headers, timeout=60)
    listed = requests.get(f"{live.url}/api/v1/users", headers=tenant.headers, timeout=60)
    assert alone.status_code == 200 and listed.status_code == 200, (alone.text, listed.text)
    assert [u["sso"] for u in listed.json() if u["email"] == email] == [alone.json()["sso"]]
    return alone.json()


def test_unlink_over_the_api_lets_the_new_subject_bind(live):
    tenant = make_tenant(live, "Unlink Bank")
    ann = "ann@unlink-bank.example"
    made = requests.post(f"{live.url}/api/v1/users", headers=tenant.headers, timeout=60,
                         json={"email": ann})
    assert made.status_code == 201, made.text
    one = f"{live.url}/api/v1/users/{made.json()['id']}"
    user = f"{one}/sso"
    provider = Provider().start()
    try:
        provider.add_client("herald-live", SECRET,
                            f"{live.url}/sso/{tenant.slug}/callback")
        provider.add_user("ann-1", "idp-pass", email=ann, email_verified=True)
        _sso(live, tenant, provider.issuer)
        assert made.json()["sso"] is None
        laptop, phone = requests.Session(), requests.Session()
        for browser in (laptop, phone):
            assert _sso_login(live, tenant.slug, "ann-1", browser).status_code == 302
            assert _signed_in(live, browser)
        linked = _api_user(live, tenant, one, ann)["sso"]
        assert (linked["issuer"], linked["subject"]) == (provider.issuer, "ann-1")
        assert linked["last_login_at"] and "last_claims" not in linked
        # Her account at the provider is recreated: a new subject, refused while bound.
        provider.add_user("ann-2", "idp-pass", email=ann, email_verified=True)
        refused = _sso_login(live, tenant.slug, "ann-2")
        assert refused.status_code == 403 and "linked to another sign-in identity" in \
            refused.text

        gone = requests.delete(user, headers=tenant.headers, timeout=60)
        assert gone.status_code == 204 and gone.text == ""
        assert _api_user(live, tenant, one, ann)["sso"] is None
        again = requests.delete(user, headers=tenant.headers, timeout=60)
        assert again.status_code == 404
        for browser in (laptop, phone):  # whoever holds the old identity is logged out
            assert not _signed_in(live, browser)
        assert again.json()["error"]["message"] == \
            f"{ann} is not linked to a single sign-on identity."
        welcome = _sso_login(live, tenant.slug, "ann-2")
        assert welcome.status_code == 302, welcome.text[:2000]
        assert _api_user(live, tenant, one, ann)["sso"]["subject"] == "ann-2"
        assert _sso_login(live, tenant.slug, "ann-1").status_code == 403  # the old one: not
    finally:
        provider.stop()
    events = requests.get(f"{live.url}/api/v1/audit", params={"action": "user.sso_unlink"},
                          headers=tenant.headers, timeout=30).json()["events"]
    assert [(e["actor"], e["target_name"], e["details"]) for e in events] == [
        (tenant.admin_email, ann, {"issuer": provider.issuer, "subject": "ann-1",
                                   "sessions_ended": 2})]


def test_an_unreachable_provider_sends_back_to_the_login_page(live):
    tenant = make_tenant(live, "Unreachable IdP Bank")
    issuer = f"http://127.0.0.1:{free_port()}"  # a closed local port
    _sso(live, tenant, issuer)
    browser = requests.Session()
    answer = browser.get(f"{live.url}/sso/{tenant.slug}/login", allow_redirects=False,
                         timeout=60)
    assert answer.status_code == 302, answer.text[:2000]
    assert answer.headers["Location"] == f"/login?company={tenant.slug}"
    page = browser.get(f"{live.url}{answer.headers['Location']}", timeout=60)
    text = html.unescape(page.text)
    assert page.status_code == 200
    assert "Single sign-on of Unreachable IdP Bank is not available right now: its identity " \
           f"provider ({issuer}) could not be reached" in text
    assert "log in with your password if you have one" in text
    assert f'value="{tenant.slug}"' in page.text
    events = requests.get(f"{live.url}/api/v1/audit", params={"action": "login.failure"},
                          headers=tenant.headers, timeout=30).json()["events"]
    assert len(events) == 1 and events[0]["result"] == "failed"
    assert events[0]["details"]["issuer"] == issuer
    assert "could not be reached" in events[0]["details"]["reason"]
