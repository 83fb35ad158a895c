"""Single sign-on against a real OpenID Connect provider on loopback (tests/roles/
oidc_provider.py): signed ID tokens checked against its JWKS, PKCE, nonce, state; the role
mapping and both sync modes; the at-risk recipients warning."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa

from roles import permissions as P
from webapp.extensions import db
from webapp.models import AuditEvent, SsoIdentity, SsoSettings

from ..conftest import PASSWORD, Auth, csrf_token
from .helpers import finished_run, held, make_role, make_task, user_by_email
from .oidc_provider import Provider

SECRET = "s3cret-client-secret"  # noqa: S105


@pytest.fixture(scope="module")
def idp():
    provider = Provider().start()
    yield provider
    provider.stop()


@pytest.fixture
def acme(app, idp, make_company, make_user, api_token):
    """Acme with SSO configured, Rita (a recipient of a usage_by_rooms task) and a run."""
    company = make_company("Acme Bank")
    make_user(company, "rita@acme.example", name="Rita")
    desk = make_role(company, "desk-reader", {P.VIEW_TASKS})
    make_role(company, "report-downloader", {P.download_permission("usage_by_rooms")})
    task = make_task(company, ["rita@acme.example", "desk@lists.acme.example"])
    run = finished_run(task)
    ids = {"company": company.id, "task": task.id, "run": run.id, "desk": desk.id}
    idp.clients.clear()
    idp.users.clear()
    idp.add_client("herald-acme", SECRET, "http://herald.test/sso/acme-bank/callback")
    idp.add_user("rita", "idp-pass", email="rita@acme.example", email_verified=True,
                 name="Rita R", groups=["traders"])
    headers = api_token(company)
    response = app.test_client().put("/api/v1/sso", headers=headers, json={
        "enabled": True, "issuer": idp.issuer, "client_id": "herald-acme",
        "client_secret": SECRET, "role_mapping": {"traders": ["desk-reader"]}})
    assert response.status_code == 200, response.get_json()
    return {**ids, "headers": headers}


def sso_login(client, slug, username, password="idp-pass", next_path="/tasks"):  # noqa: S107
    """The browser's round trip: Herald → IdP login form → Herald's callback."""
    response = client.get(f"/sso/{slug}/login", query_string={"next": next_path})
    assert response.status_code == 302, response.get_data(as_text=True)
    authorize = response.headers["Location"]
    params = parse_qs(urlsplit(authorize).query)
    assert params["code_challenge_method"] == ["S256"] and params["nonce"]
    assert requests.get(authorize, timeout=10).status_code == 200  # the IdP's login form
    answer = requests.post(authorize, data={"username": username, "password": password},
                           allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["Location"])
    assert callback.netloc == "herald.test"
    return client.get(f"{callback.path}?{callback.query}")


def test_login_in_default_mode_keeps_the_recipient_viewer_role(app, acme):
    client = app.test_client()
    run = acme["run"]
    response = sso_login(client, "acme-bank", "rita", next_path=f"/runs/{run}")
    assert response.status_code == 302 and response.headers["Location"] == f"/runs/{run}"
    assert held(acme["company"], "rita@acme.example") == {
        (P.VIEWER_ROLE, "recipient"), ("desk-reader", "sso")}
    download = client.get(f"/runs/{run}/download")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    download.close()

    identity = db.session.scalar(sa.select(SsoIdentity))
    assert identity.subject == "rita" and identity.last_claims["groups"] == ["traders"]
    assert "nonce" not in identity.last_claims

    # The IdP drops her from the group: the SSO role goes, the viewer role stays.
    app.test_client().put("/api/v1/sso", headers=acme["headers"],
                          json={"role_mapping": {}})
    sso_login(app.test_client(), "acme-bank", "rita")
    assert held(acme["company"], "rita@acme.example") == {(P.VIEWER_ROLE, "recipient")}
    settings = app.test_client().get("/api/v1/sso", headers=acme["headers"]).get_json()
    assert settings["sync_mode"] == "sso_only" and settings["at_risk"] == []
    # The settings page previews the other mode (an htmx fragment): Rita's groups map to
    # nothing now, so "replace all" would take her viewer role.
    browser = app.test_client()
    Auth(browser).login("admin@acme-bank.example")
    fragment = browser.get("/admin/sso?sync_mode=replace_all",
                           headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="at-risk">')
    assert "rita@acme.example — SSO sync would remove the role" in fragment
    assert "rita@acme.example" not in browser.get("/admin/sso").get_data(as_text=True)


def test_replace_all_warns_then_removes_the_viewer_role(app, acme):
    headers = acme["headers"]
    admin_api = app.test_client()
    body = admin_api.put("/api/v1/sso", headers=headers,
                         json={"sync_mode": "replace_all"}).get_json()
    # Before any SSO login nothing shows the mapping gives Rita a role that can download.
    assert [r["email"] for r in body["at_risk"]] == ["rita@acme.example"]
    assert body["at_risk"][0]["reason"].startswith("SSO sync would remove the role")
    task = admin_api.get(f"/api/v1/tasks/{acme['task']}", headers=headers).get_json()
    reasons = {r["email"]: r["reason"] for r in task["recipients_without_download"]}
    assert reasons["rita@acme.example"].startswith("SSO sync would remove the role")
    assert reasons["desk@lists.acme.example"].startswith("not a user")

    # The settings page says so too, and suggests mapping a role that can download.
    browser = app.test_client()
    Auth(browser).login("admin@acme-bank.example")
    page = browser.get("/admin/sso").get_data(as_text=True)
    assert "1 recipient would lose download access" in page and "rita@acme.example" in page
    assert "report-downloader" in page

    # Rita logs in: the mapped role replaces every role, the viewer role is gone.
    client = app.test_client()
    sso_login(client, "acme-bank", "rita")
    assert held(acme["company"], "rita@acme.example") == {("desk-reader", "sso")}
    run = acme["run"]
    refused = client.get(f"/runs/{run}/download")
    assert refused.status_code == 403 and refused.mimetype == "text/html"
    assert "Download Chat Usage report by Rooms" in refused.get_data(as_text=True)
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action.startswith("run."))).all()
    assert [(e.result, e.user.email) for e in events] == [("refused", "rita@acme.example")]

    # Now the warning knows her groups; mapping them to a downloading role clears it.
    body = admin_api.get("/api/v1/sso", headers=headers).get_json()
    assert "map to desk-reader, which lacks Download Chat Usage report by Rooms" in \
        body["at_risk"][0]["reason"]
    body = admin_api.put("/api/v1/sso", headers=headers, json={
        "role_mapping": {"traders": ["desk-reader", "report-downloader"]}}).get_json()
    assert body["at_risk"] == []
    client = app.test_client()
    sso_login(client, "acme-bank", "rita")
    assert held(acme["company"], "rita@acme.example") == {("desk-reader", "sso"),
                                                          ("report-downloader", "sso")}
    ok = client.get(f"/runs/{run}/download")
    assert ok.status_code == 200
    ok.close()


def test_first_login_creates_a_user_only_when_allowed(app, acme, idp):
    idp.add_user("newbie", "idp-pass", email="Newbie@acme.example", email_verified=True,
                 name="New Person", groups=["traders"])
    response = sso_login(app.test_client(), "acme-bank", "newbie")
    assert response.status_code == 403
    assert "not a user of Acme Bank" in response.get_data(as_text=True)
    assert user_by_email(acme["company"], "newbie@acme.example") is None

    app.test_client().put("/api/v1/sso", headers=acme["headers"], json={"allow_signup": True})
    client = app.test_client()
    response = sso_login(client, "acme-bank", "newbie")
    assert response.status_code == 302
    user = user_by_email(acme["company"], "newbie@acme.example")
    assert user.name == "New Person" and user.password_hash is None
    assert held(acme["company"], "newbie@acme.example") == {("desk-reader", "sso")}
    assert client.get("/tasks").status_code == 200  # desk-reader may view tasks


@pytest.mark.parametrize("claims, message", [
    ({"email": "rita@acme.example", "email_verified": False}, "has not verified"),
    ({"email_verified": True}, "did not send an email"),
    ({"email": "desk@lists.acme.example", "email_verified": True}, "group email"),
])
def test_refused_identities(app, acme, idp, make_user, claims, message):
    from webapp.models import Company
    make_user(db.session.get(Company, acme["company"]), "desk@lists.acme.example",
              password=None, is_group=True)
    idp.add_user("someone", "idp-pass", **claims)
    response = sso_login(app.test_client(), "acme-bank", "someone")
    assert response.status_code == 403 and message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(SsoIdentity.id))) == 0


def test_a_forged_or_replayed_callback_is_refused(app, acme):
    client = app.test_client()
    client.get("/sso/acme-bank/login")
    response = client.get("/sso/acme-bank/callback?code=forged&state=forged")
    assert response.status_code == 400
    assert client.get("/tasks").status_code == 302  # still not logged in


def test_an_id_token_not_signed_by_the_providers_key_is_refused(app, acme, idp):
    from joserfc.jwk import RSAKey

    idp.signing_key = RSAKey.generate_key(2048, private=True)
    try:
        client = app.test_client()
        response = sso_login(client, "acme-bank", "rita")
    finally:
        idp.signing_key = None
    assert response.status_code == 400
    assert "ID token is not valid" in response.get_data(as_text=True)
    assert client.get("/tasks").status_code == 302
    assert held(acme["company"], "rita@acme.example") == {(P.VIEWER_ROLE, "recipient")}


def test_replace_all_never_takes_the_last_way_to_manage_users(app, acme, idp, caplog):
    app.test_client().put("/api/v1/sso", headers=acme["headers"],
                          json={"sync_mode": "replace_all"})
    idp.add_user("boss", "idp-pass", email="admin@acme-bank.example", email_verified=True,
                 groups=["traders"])
    with caplog.at_level(logging.WARNING, logger="roles.sso"):
        assert sso_login(app.test_client(), "acme-bank", "boss").status_code == 302
    assert held(acme["company"], "admin@acme-bank.example") == {
        (P.ADMIN_ROLE, "manual"), ("desk-reader", "sso")}
    assert "nobody else" in caplog.text


def test_a_provider_on_a_private_address_is_not_contacted(app, acme, idp):
    """Without ALLOW_PRIVATE_TARGETS the login uses "Test sign-in"'s guard: the loopback
    issuer is never fetched, the login page says why and the refusal is audited."""
    app.config["ALLOW_PRIVATE_TARGETS"] = False
    idp.heard.clear()
    client = app.test_client()
    response = client.get("/sso/acme-bank/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?company=acme-bank"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Single sign-on of Acme Bank is not available" in page
    assert "127.0.0.1 is a loopback, private, link-local or multicast address" in page
    assert 'value="acme-bank"' in page  # the slug typed is kept
    assert idp.heard == []
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "login.failure"))
    assert event.result == "refused" and event.company_id == acme["company"]
    assert event.details["method"] == "sso" and "ALLOW_PRIVATE_TARGETS" in \
        event.details["reason"]
    app.config["ALLOW_PRIVATE_TARGETS"] = True
    assert client.get("/sso/acme-bank/login").status_code == 302 and idp.heard  # allowed


def test_unknown_company_or_sso_off_is_404(app, acme):
    assert app.test_client().get("/sso/nope/login").status_code == 404
    app.test_client().put("/api/v1/sso", headers=acme["headers"], json={"enabled": False})
    assert app.test_client().get("/sso/acme-bank/login").status_code == 404


def herald_roles_claim(claims, context):
    """A deployment's hook: role names straight from a custom claim."""
    return list(claims.get("herald_roles", [])) + [f"{context.company_slug}-extra"]


def test_the_mapping_hook_is_replaceable_and_unknown_roles_are_logged(app, acme, idp, caplog):
    app.config["SSO_ROLE_MAPPER"] = "tests.roles.test_sso:herald_roles_claim"
    idp.add_user("ann", "idp-pass", email="ann@acme.example", email_verified=True,
                 herald_roles=["report-downloader", "ghost-role"])
    app.test_client().put("/api/v1/sso", headers=acme["headers"], json={"allow_signup": True})
    with caplog.at_level(logging.WARNING, logger="roles.sso"):
        assert sso_login(app.test_client(), "acme-bank", "ann").status_code == 302
    assert held(acme["company"], "ann@acme.example") == {("report-downloader", "sso")}
    assert "'ghost-role'" in caplog.text and "'acme-bank-extra'" in caplog.text
    from webapp.models import Role
    assert db.session.scalar(sa.select(Role).where(Role.name == "ghost-role")) is None


def test_settings_form_encrypts_the_secret_and_validates(app, acme, idp):
    browser = app.test_client()
    Auth(browser).login("admin@acme-bank.example")
    token = csrf_token(browser, "/admin/sso")
    page = browser.get("/admin/sso").get_data(as_text=True)
    assert SECRET not in page and "stored — leave empty to keep it" in page
    response = browser.post("/admin/sso", data={
        "csrf_token": token, "enabled": "1", "issuer": "http://idp.example.com",
        "client_id": "x", "client_secret": "", "groups_claim": "groups",
        "role_mapping": "traders = no-such-role", "sync_mode": "sso_only"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Issuer must use https://" in text and "No role named no-such-role" in text
    response = browser.post("/admin/sso", data={
        "csrf_token": token, "enabled": "1", "issuer": idp.issuer, "client_id": "herald-acme",
        "client_secret": "", "groups_claim": "realm_access.roles",
        "role_mapping": "cn=traders,ou=groups,dc=acme = desk-reader, report-downloader",
        "sync_mode": "replace_all"})
    assert response.status_code == 302
    db.session.expire_all()
    settings = db.session.scalar(sa.select(SsoSettings))
    assert settings.client_secret.startswith("fernet:") and SECRET not in settings.client_secret
    assert settings.role_mapping == {"cn=traders,ou=groups,dc=acme": ["desk-reader",
                                                                      "report-downloader"]}
    # The kept secret still works: a login with nested group claims.
    idp.add_user("bob", "idp-pass", email="rita@acme.example", email_verified=True,
                 realm_access={"roles": ["cn=traders,ou=groups,dc=acme"]})
    assert sso_login(app.test_client(), "acme-bank", "bob").status_code == 302
    assert held(acme["company"], "rita@acme.example") == {("desk-reader", "sso"),
                                                          ("report-downloader", "sso")}


def test_password_login_page_offers_sso(app, acme):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert 'action="/sso"' in page
    response = client.get("/sso", query_string={"company": "Acme-Bank", "next": "/tasks"})
    assert response.headers["Location"] == "/sso/acme-bank/login?next=/tasks"
    assert PASSWORD  # password login stays available alongside SSO


def test_a_form_sent_after_the_session_expired_comes_back_after_an_sso_login(app, acme):
    client = app.test_client()
    response = client.post("/account/tokens", data={"csrf_token": "stale", "scope": "read",
                                                    "name": "Typed before SSO"})
    assert response.headers["Location"] == "/login?next=/account/tokens"
    response = sso_login(client, "acme-bank", "rita", next_path="/account/tokens")
    assert response.headers["Location"] == "/account/tokens"
    page = client.get("/account/tokens").get_data(as_text=True)
    assert 'value="Typed before SSO"' in page and "what you typed is back" in page
