""""Test sign-in" on the SSO settings, in-process, against a real OpenID Connect provider
served over HTTP on loopback (tests/roles/oidc_provider.py), made to misbehave: every failure
is said, next to the fields, nothing typed is lost, the secret is never echoed, nothing is
saved, an audit event is recorded."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from jobs.embedded_redis import free_port
from webapp.extensions import db
from webapp.models import AuditEvent, SsoSettings
from webapp.services import sso_check

from ..conftest import Auth, csrf_token
from .oidc_provider import Provider

SECRET = "typed-secret-never-echoed"  # noqa: S105


@pytest.fixture
def idp():
    provider = Provider().start()
    yield provider
    provider.stop()


@pytest.fixture
def admin(app, make_company):
    make_company("Acme Bank")
    browser = app.test_client()
    Auth(browser).login("admin@acme-bank.example")
    return browser


def _test(browser, issuer: str, secret: str = SECRET, client_id: str = "herald") -> str:
    response = browser.post("/admin/sso", data={
        "csrf_token": csrf_token(browser, "/admin/sso"), "action": "test", "enabled": "1",
        "issuer": issuer, "client_id": client_id, "client_secret": secret,
        "groups_claim": "roles", "role_mapping": "traders = nothing-yet",
        "sync_mode": "replace_all"})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert secret not in text or not secret
    return text


def _values_kept(page: str, issuer: str) -> None:
    assert f'value="{issuer}"' in page and 'value="herald"' in page and 'value="roles"' in page
    assert "traders = nothing-yet</textarea>" in page
    assert re.search(r'value="replace_all"\s+checked', page)
    assert "kept from what you typed" in page


def test_a_working_provider_passes_and_nothing_is_saved(app, admin, idp):
    page = _test(admin, idp.issuer)
    assert "Test sign-in worked" in page, page
    assert "Discovery document: works." in page and "Signing keys (JWKS): works." in page
    assert "1 signing key (RS256)" in page
    _values_kept(page, idp.issuer)
    assert db.session.scalar(sa.select(SsoSettings)) is None  # the mapping's error: not checked
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "sso.test"))
    assert event.result == "ok" and event.details["issuer"] == idp.issuer
    assert [s["ok"] for s in event.details["steps"]] == [True, True]
    assert SECRET not in str(event.details)


@pytest.mark.parametrize(("change", "expected", "field"), [
    ({"issuer": "https://someone-else.example"}, "Issuer mismatch: the discovery document "
     "names the issuer “https://someone-else.example”", "The provider calls itself"),
    ({"jwks_uri": None}, "The discovery document has no jwks_uri", None),
    ({"token_endpoint": None}, "has no token_endpoint", None),
])
def test_what_the_discovery_document_lacks_is_said(app, admin, idp, change, expected, field):
    idp.discovery_changes = change
    page = _test(admin, idp.issuer)
    assert "Test sign-in failed" in page and expected in page, page
    assert "Discovery document: failed." in page and "Signing keys" not in page
    if field:
        assert field in page and 'aria-invalid="true" aria-describedby="error-issuer"' in page
    _values_kept(page, idp.issuer)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "sso.test"))
    assert event.result == "failed"


def test_bad_json_is_said_for_either_document(app, admin, idp):
    idp.raw["/.well-known/openid-configuration"] = "<html>Welcome</html>"
    page = _test(admin, idp.issuer)
    assert "did not answer JSON (it sent text/html)" in page
    idp.raw = {"/jwks": "{not json"}
    page = _test(admin, idp.issuer)
    assert "Discovery document: works." in page
    assert "Signing keys (JWKS): failed." in page and f"{idp.issuer}/jwks did not answer JSON" \
        in page


def test_an_unreachable_issuer_and_a_slow_one(app, admin, idp):
    nobody = f"http://127.0.0.1:{free_port()}"
    page = _test(admin, nobody)
    assert f"{nobody}/.well-known/openid-configuration cannot be reached" in page, page
    assert 'aria-describedby="error-issuer"' in page
    _values_kept(page, nobody)
    app.config["SSO_HTTP_TIMEOUT"] = 0.3
    idp.delay = 1.0
    page = _test(admin, idp.issuer)
    assert "within 0.3 s (SSO_HTTP_TIMEOUT)" in page, page


def test_the_typed_settings_are_checked_before_any_fetch(app, admin, idp):
    page = _test(admin, "ftp://idp.example", secret="", client_id="")
    assert "Issuer must be an https:// URL" in page
    assert "Client id is required to sign in." in page
    assert "Client secret is required to sign in." in page
    assert "Discovery document" not in page


def test_private_addresses_are_refused_unless_allowed(app, admin, idp):
    app.config["ALLOW_PRIVATE_TARGETS"] = False
    page = _test(admin, idp.issuer)
    assert "ALLOW_PRIVATE_TARGETS is off" in page and "Discovery document" not in page
    # The guard holds for every connection, not only the issuer's (e.g. a jwks_uri).
    with app.test_request_context(), sso_check.checked_session() as session, \
            pytest.raises(sso_check.Unusable, match="ALLOW_PRIVATE_TARGETS is off"):
        sso_check.get_json(session, f"{idp.issuer}/jwks", 1e12)


def test_a_stored_secret_counts_and_save_still_saves(app, admin, idp):
    response = admin.post("/admin/sso", data={
        "csrf_token": csrf_token(admin, "/admin/sso"), "action": "save", "enabled": "1",
        "issuer": idp.issuer, "client_id": "herald", "client_secret": SECRET,
        "groups_claim": "groups", "role_mapping": "", "sync_mode": "sso_only"})
    assert response.status_code == 302
    page = _test(admin, idp.issuer, secret="")
    assert "Test sign-in worked" in page and "stored — leave empty to keep it" in page
