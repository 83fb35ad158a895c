""""Test sign-in" on the SSO settings through the real server: it fetches the discovery
document and the keys of a real OpenID Connect provider (tests/roles/oidc_provider.py, served
by this test process), says what failed, keeps every value and never echoes the secret; an
audit event records each test."""

from __future__ import annotations

import requests

from jobs.embedded_redis import free_port
from tests.roles.oidc_provider import Provider

from .conftest import make_tenant
from .test_accounts_live import csrf, login

SECRET = "live-typed-secret"  # noqa: S105


def _test(live, browser: requests.Session, issuer: str) -> str:
    answer = browser.post(f"{live.url}/admin/sso", timeout=60, data={
        "csrf_token": csrf(browser, f"{live.url}/admin/sso"), "action": "test",
        "issuer": issuer, "client_id": "herald-live", "client_secret": SECRET,
        "groups_claim": "groups", "role_mapping": "", "sync_mode": "sso_only"})
    assert answer.status_code == 200, answer.text[:2000]
    assert SECRET not in answer.text and f'value="{issuer}"' in answer.text
    return answer.text


def test_test_sign_in_over_the_real_server(live):
    tenant = make_tenant(live, "Sign In Co")
    browser, answer = login(live, tenant.admin_email, tenant.password)
    assert answer.status_code in (200, 302)
    provider = Provider().start()
    try:
        page = _test(live, browser, provider.issuer)
        assert "Test sign-in worked" in page and "1 signing key (RS256)" in page
        provider.discovery_changes = {"issuer": "https://elsewhere.example"}
        page = _test(live, browser, provider.issuer)
        assert "Issuer mismatch" in page and 'aria-describedby="error-issuer"' in page
        provider.discovery_changes = {}
        provider.raw["/jwks"] = "<html>Not keys</html>"
        page = _test(live, browser, provider.issuer)
        assert "Signing keys (JWKS): failed." in page and "did not answer JSON" in page
    finally:
        provider.stop()
    nobody = f"http://127.0.0.1:{free_port()}"
    assert "cannot be reached" in _test(live, browser, nobody)
    events = requests.get(f"{live.url}/api/v1/audit", params={"action": "sso.test"},
                          headers=tenant.headers, timeout=30).json()["events"]
    assert [e["details"]["steps"][-1]["ok"] for e in events] == [False, False, False, True]
    assert all(e["actor"] == tenant.admin_email for e in events)
    assert requests.get(f"{live.url}/api/v1/sso", headers=tenant.headers,
                        timeout=30).json()["issuer"] == ""  # nothing saved
