"""What ends a user's other logins (in-process): setting a password through an emailed link
or the CLI, and deactivating the user (unlinking single sign-on: tests/roles/
test_sso_unlink.py). Another user's logins, and another company's, stay; the audit event
says how many ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.conftest import PASSWORD, Auth, csrf_token
from webapp.extensions import db
from webapp.models import AuditEvent, LoginSession, User
from webapp.services import accounts, sessions

NIA = "nia@acme-bank.example"
NEW = "correct staple battery horse"


def logged_in(app, email: str, company: str = "") -> object:
    client = app.test_client()
    assert Auth(client).login(email, company=company).status_code == 302
    return client


def login_with(app, password: str):
    client = app.test_client()
    assert Auth(client).login(NIA, password, company="acme-bank").status_code == 302
    return client


def signed_in(client) -> bool:
    """Still logged in: My reports answers; else the login page, as every page would."""
    answer = client.get("/my/reports")
    assert answer.status_code in (200, 302)
    if answer.status_code == 302:
        assert answer.headers["Location"].startswith("/login")
    return answer.status_code == 200


def event(action: str) -> AuditEvent:
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id.desc())).first()


def people(app, make_company, make_user) -> dict:
    """Nia on two clients, her company's admin, and the same address in another company."""
    acme, other = make_company("Acme Bank"), make_company("Other Co")
    nia = make_user(acme, NIA)
    make_user(other, NIA)
    return {"nia": nia, "first": logged_in(app, NIA, acme.slug),
            "second": logged_in(app, NIA, acme.slug),
            "admin": logged_in(app, "admin@acme-bank.example"),
            "elsewhere": logged_in(app, NIA, other.slug),
            "other_admin": logged_in(app, "admin@other-co.example")}


def test_a_reset_through_the_link_ends_her_other_logins_only(app, make_company, make_user):
    p = people(app, make_company, make_user)
    path = accounts.make_link(p["nia"], "reset").removeprefix("http://herald.test")
    first = p["first"]
    done = first.post(path, data={"csrf_token": csrf_token(first, path), "password": NEW,
                                  "confirm": NEW})
    assert done.status_code == 302 and done.headers["Location"].startswith("/login?email=")
    assert not signed_in(p["second"])  # whoever had the old password is out
    assert not signed_in(first)  # logged out, as before: she logs in with the new one
    assert all(signed_in(p[k]) for k in ("admin", "elsewhere", "other_admin"))
    assert event("password.reset").details == {"via": "reset", "sessions_ended": 1}
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(LoginSession.id)).where(
        LoginSession.user_id == p["nia"].id, LoginSession.ended_at.is_(None))) == 0
    assert signed_in(login_with(app, NEW))  # the new password works


def test_the_cli_set_password_ends_every_login(app, runner, make_company, make_user):
    p = people(app, make_company, make_user)
    out = runner.invoke(args=["users", "set-password", "--company", "acme-bank", NIA],
                        input=NEW + "\n")
    assert out.exit_code == 0, out.output
    assert not signed_in(p["first"]) and not signed_in(p["second"])
    assert all(signed_in(p[k]) for k in ("admin", "elsewhere", "other_admin"))
    assert event("password.reset").details == {"via": "cli", "sessions_ended": 2}


def test_deactivating_ends_every_login_and_reactivating_revives_none(app, make_company,
                                                                     make_user):
    p = people(app, make_company, make_user)
    admin = p["admin"]
    token = csrf_token(admin, f"/admin/users/{p['nia'].id}")
    admin.post(f"/admin/users/{p['nia'].id}/deactivate", data={"csrf_token": token})
    admin.post(f"/admin/users/{p['nia'].id}/reactivate", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(User, p["nia"].id).active is True
    assert not signed_in(p["first"]) and not signed_in(p["second"])
    assert all(signed_in(p[k]) for k in ("admin", "elsewhere", "other_admin"))
    assert signed_in(login_with(app, PASSWORD))  # active again: a new login works
    assert event("user.deactivate").details == {"sessions_ended": 2}


def test_end_all_counts_live_logins_only(app, make_company, make_user):
    p = people(app, make_company, make_user)
    nia = db.session.get(User, p["nia"].id)
    long_ago = datetime.now(UTC) - timedelta(hours=13)  # past SESSION_MAX_HOURS: dead already
    db.session.add(LoginSession(user_id=nia.id, key_hash="a" * 64, created_at=long_ago,
                                last_seen_at=long_ago))
    db.session.commit()
    with app.test_request_context():  # no login of hers in this request: nothing spared
        assert sessions.end_all(nia, except_current=True) == 2
        assert sessions.end_all(nia) == 0  # ended already: not counted again
    db.session.commit()
    assert not signed_in(p["first"]) and not signed_in(p["second"])
    assert signed_in(p["elsewhere"])
