"""Unlinking a user's single sign-on identity (their page and DELETE /api/v1/users/{id}/sso),
and an identity provider that cannot be reached during a login: back to the login page, not
an error page. Against the real OpenID Connect provider of tests/roles/oidc_provider.py."""

from __future__ import annotations

import html
from datetime import datetime

import sqlalchemy as sa

from jobs.embedded_redis import free_port
from roles import permissions as P
from webapp.extensions import db
from webapp.models import AuditEvent, Company, SsoIdentity

from ..conftest import Auth, csrf_token
from .helpers import give, held, make_role, user_by_email
from .test_sso import acme, idp, sso_login  # noqa: F401 - fixtures

RITA = "rita@acme.example"


def _identity(company_id: int):
    db.session.expire_all()
    user = user_by_email(company_id, RITA)
    return db.session.scalar(sa.select(SsoIdentity).where(SsoIdentity.user_id == user.id))


def test_admin_unlinks_on_the_users_page_and_the_next_login_binds_the_new_subject(
        app, acme, idp):  # noqa: F811 - the fixtures of test_sso
    assert sso_login(app.test_client(), "acme-bank", "rita").status_code == 302
    rita = user_by_email(acme["company"], RITA)
    # Her account at the provider is recreated: same email, new subject. Refused, as ever.
    idp.add_user("rita-2", "idp-pass", email=RITA, email_verified=True, groups=["traders"])
    refused = sso_login(app.test_client(), "acme-bank", "rita-2")
    assert refused.status_code == 403
    assert "linked to another sign-in identity" in refused.get_data(as_text=True)

    admin = app.test_client()
    Auth(admin).login("admin@acme-bank.example")
    page = html.unescape(admin.get(f"/admin/users/{rita.id}").get_data(as_text=True))
    assert f"linked to the identity provider {idp.issuer} (subject <code>rita</code>)" in page
    assert f'data-confirm="Unlink {RITA} from single sign-on ({idp.issuer})?' in page
    response = admin.post(f"/admin/users/{rita.id}/sso/unlink",
                          data={"csrf_token": csrf_token(admin)})
    assert response.status_code == 302 and response.headers["Location"] == \
        f"/admin/users/{rita.id}"
    page = html.unescape(admin.get(response.headers["Location"]).get_data(as_text=True))
    assert f"{RITA} is no longer linked to single sign-on ({idp.issuer})" in page
    assert "not linked: the next single sign-on login" in page
    assert "Unlink single sign-on" not in page
    assert _identity(acme["company"]) is None
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "user.sso_unlink"))
    assert event.actor == "admin@acme-bank.example" and event.target_id == rita.id
    assert event.details == {"issuer": idp.issuer, "subject": "rita", "sessions_ended": 1}
    # Nothing left to unlink a second time: said, nothing recorded.
    again = admin.post(f"/admin/users/{rita.id}/sso/unlink",
                       data={"csrf_token": csrf_token(admin)})
    assert "is not linked to a single sign-on identity" in admin.get(
        again.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.action == "user.sso_unlink")) == 1
    # The roles SSO gave stay until the next login re-syncs them.
    assert ("desk-reader", "sso") in held(acme["company"], RITA)

    client = app.test_client()
    assert sso_login(client, "acme-bank", "rita-2").status_code == 302
    assert _identity(acme["company"]).subject == "rita-2"
    assert client.get("/tasks").status_code == 200


def test_unlink_over_the_api(app, acme, make_company, api_token):  # noqa: F811
    assert sso_login(app.test_client(), "acme-bank", "rita").status_code == 302
    rita = user_by_email(acme["company"], RITA)
    api = app.test_client()
    other = api_token(make_company("Other Co"))
    assert api.delete(f"/api/v1/users/{rita.id}/sso", headers=other).status_code == 404
    rita_token = api_token(db.session.get(Company, acme["company"]), RITA)
    denied = api.delete(f"/api/v1/users/{rita.id}/sso", headers=rita_token)
    assert denied.status_code == 403
    assert "Manage users and roles" in denied.get_json()["error"]["message"]
    assert _identity(acme["company"]) is not None

    response = api.delete(f"/api/v1/users/{rita.id}/sso", headers=acme["headers"])
    assert response.status_code == 204 and response.get_data() == b""
    assert _identity(acme["company"]) is None
    gone = api.delete(f"/api/v1/users/{rita.id}/sso", headers=acme["headers"])
    assert gone.status_code == 404
    assert gone.get_json()["error"]["message"] == \
        f"{RITA} is not linked to a single sign-on identity."
    events = api.get("/api/v1/audit", headers=acme["headers"],
                     query_string={"action": "user.sso_unlink"}).get_json()["events"]
    assert len(events) == 1 and events[0]["details"]["issuer"].startswith("http://127.0.0.1")


def test_the_api_user_shows_the_linked_identity_until_it_is_unlinked(
        app, acme, idp, make_company, api_token):  # noqa: F811
    """``sso`` is the issuer, the subject and the last login of the identity, never the
    claims it sent; null for a user never linked and once unlinked, in the list and alone."""
    assert sso_login(app.test_client(), "acme-bank", "rita").status_code == 302
    rita = user_by_email(acme["company"], RITA)
    api, headers = app.test_client(), acme["headers"]
    one = api.get(f"/api/v1/users/{rita.id}", headers=headers).get_json()
    assert set(one["sso"]) == {"issuer", "subject", "last_login_at"}
    assert (one["sso"]["issuer"], one["sso"]["subject"]) == (idp.issuer, "rita")
    assert datetime.fromisoformat(one["sso"]["last_login_at"]).tzinfo is not None
    listed = {u["email"]: u for u in api.get("/api/v1/users", headers=headers).get_json()}
    assert listed[RITA]["sso"] == one["sso"]
    assert listed["admin@acme-bank.example"]["sso"] is None  # never linked
    renamed = api.patch(f"/api/v1/users/{rita.id}", headers=headers, json={"name": "R"})
    assert renamed.get_json()["sso"] == one["sso"]  # every answer that is a user says it
    # Another company's admin sees neither her nor her identity.
    other = api_token(make_company("Other Co"))
    assert api.get(f"/api/v1/users/{rita.id}", headers=other).status_code == 404
    assert all(u["sso"] is None for u in api.get("/api/v1/users", headers=other).get_json())

    assert api.delete(f"/api/v1/users/{rita.id}/sso", headers=headers).status_code == 204
    assert api.get(f"/api/v1/users/{rita.id}", headers=headers).get_json()["sso"] is None
    listed = {u["email"]: u for u in api.get("/api/v1/users", headers=headers).get_json()}
    assert listed[RITA]["sso"] is None


def test_the_users_list_loads_the_identities_in_one_query(app, make_company, make_user,
                                                          api_token):
    """Each user's identity (and roles) come with the page, not one query per user: the
    list of 12 linked users sends as many statements as the list of 2."""
    company = make_company("Many Bank")
    headers = api_token(company)

    def add_linked(count: int) -> None:
        for n in range(count):
            user = make_user(company, f"u{n}-{count}@many.example")
            db.session.add(SsoIdentity(company_id=company.id, user_id=user.id,
                                       issuer="https://login.example.com", subject=f"{n}-{count}",
                                       last_claims={"secret": "never shown"}))
        db.session.commit()

    def selects() -> tuple[list[str], list[dict]]:
        seen: list[str] = []

        def record(conn, cursor, statement, *args):
            # The token's own reads (its last use is written at most once a minute) aside.
            if statement.lstrip().upper().startswith("SELECT") and \
                    "FROM api_tokens" not in statement:
                seen.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            users = app.test_client().get("/api/v1/users", headers=headers).get_json()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        return seen, users

    add_linked(2)
    few, users = selects()
    assert sum(1 for u in users if u["sso"]) == 2
    add_linked(10)
    many, users = selects()
    assert sum(1 for u in users if u["sso"]) == 12
    assert "never shown" not in str(users)
    assert len([s for s in many if "sso_identities" in s]) == 1
    assert len(many) == len(few)


def test_unlinking_ends_every_login_of_the_user_and_no_other(
        app, acme, make_company, make_user):  # noqa: F811 - the fixtures of test_sso
    """Whoever holds the old identity does not stay logged in: both of Rita's logins end;
    her administrator's, and the same address's in another company, stay."""
    rita_clients = [app.test_client(), app.test_client()]
    for client in rita_clients:
        assert sso_login(client, "acme-bank", "rita").status_code == 302
        assert client.get("/tasks").status_code == 200
    make_user(make_company("Other Co"), RITA)
    elsewhere = app.test_client()
    assert Auth(elsewhere).login(RITA, company="other-co").status_code == 302
    admin = app.test_client()
    Auth(admin).login("admin@acme-bank.example")
    rita = user_by_email(acme["company"], RITA)
    admin.post(f"/admin/users/{rita.id}/sso/unlink", data={"csrf_token": csrf_token(admin)})
    for client in rita_clients:
        answer = client.get("/tasks")
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    assert admin.get(f"/admin/users/{rita.id}").status_code == 200
    assert elsewhere.get("/my/reports").status_code == 200
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "user.sso_unlink"))
    assert event.details["sessions_ended"] == 2


def test_unlinking_needs_every_permission_the_user_holds(
        app, acme, make_user, api_token):  # noqa: F811
    """Unlinked, the user is open to whichever identity the provider sends with their email:
    someone who manages users but lacks what the user holds may not open that door."""
    company = db.session.get(Company, acme["company"])
    mo = make_user(company, "mo@acme.example")
    give(mo, make_role(company, "people-manager", {P.MANAGE_USERS}))
    assert sso_login(app.test_client(), "acme-bank", "rita").status_code == 302
    rita = user_by_email(acme["company"], RITA)
    refused = app.test_client().delete(f"/api/v1/users/{rita.id}/sso",
                                       headers=api_token(company, "mo@acme.example"))
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "not_held"
    browser = app.test_client()
    Auth(browser).login("mo@acme.example")
    browser.post(f"/admin/users/{rita.id}/sso/unlink", data={"csrf_token": csrf_token(browser)})
    page = browser.get(f"/admin/users/{rita.id}").get_data(as_text=True)
    assert "holds permissions you do not hold" in page
    assert _identity(acme["company"]) is not None
    assert db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "user.sso_unlink")) is None


def test_an_unreachable_provider_sends_back_to_the_login_page(app, acme, idp):  # noqa: F811
    issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app.test_client().put("/api/v1/sso", headers=acme["headers"], json={"issuer": issuer})
    client = app.test_client()
    response = client.get("/sso/acme-bank/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?company=acme-bank"
    page = html.unescape(client.get(response.headers["Location"]).get_data(as_text=True))
    assert f"Single sign-on of Acme Bank is not available right now: its identity provider " \
           f"({issuer}) could not be reached" in page
    assert "Try again in a few minutes, or log in with your password if you have one." in page
    assert 'value="acme-bank"' in page  # the slug typed is kept
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "login.failure"))
    assert event.result == "failed" and event.company_id == acme["company"]
    assert event.details["method"] == "sso" and event.details["issuer"] == issuer
    assert "could not be reached" in event.details["reason"]


def test_a_provider_gone_between_login_and_callback_sends_back_to_the_login_page(
        app, acme, idp):  # noqa: F811
    """The token exchange finds the provider gone: the same, from the callback."""
    client = app.test_client()
    response = client.get("/sso/acme-bank/login")
    state = response.headers["Location"].split("state=")[1].split("&")[0]
    issuer = f"http://127.0.0.1:{free_port()}"
    app.test_client().put("/api/v1/sso", headers=acme["headers"], json={"issuer": issuer})
    response = client.get(f"/sso/acme-bank/callback?code=c&state={state}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?company=acme-bank"
    assert "could not be reached" in client.get("/login?company=acme-bank").get_data(
        as_text=True)
    assert client.get("/tasks").status_code == 302  # not logged in
