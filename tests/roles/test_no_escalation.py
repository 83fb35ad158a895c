"""Nobody grants or takes back what they don't hold, through any path — roles, assignments, SSO
settings, SSO logins, ingestion — and the company never loses its last administrator. The
examples are the attacks that worked once (a user holding only "Manage users and roles"); the
property drives random sequences of such actions through the services."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roles import permissions as P
from webapp.extensions import db
from webapp.models import Company, Role, SsoIdentity, SsoSettings
from webapp.services import ingest as ingest_service
from webapp.services import roles as role_service
from webapp.services import sso as sso_service
from webapp.services.errors import InputError

from .helpers import give, held, make_role, user_by_email
from .oidc_provider import Provider
from .test_sso import SECRET, sso_login


@pytest.fixture
def shop(app, make_company, make_user, api_token):
    """Acme with two administrators and Mallory, who holds only "Manage users and roles"."""
    company = make_company("Acme Bank")
    make_user(company, "second@acme.example", roles=[P.ADMIN_ROLE])
    mallory = make_user(company, "mallory@acme.example")
    give(mallory, make_role(company, "user-manager", {P.MANAGE_USERS}))
    return company, api_token(company, "mallory@acme.example")


def admin_role_id(company) -> int:
    return db.session.scalar(sa.select(Role.id).where(Role.company_id == company.id,
                                                      Role.name == P.ADMIN_ROLE))


def test_sso_settings_cannot_map_or_redirect_what_you_do_not_hold(client, shop):
    company, mallory = shop
    pwn = client.put("/api/v1/sso", headers=mallory,
                     json={"role_mapping": {"pwn": [P.ADMIN_ROLE]}})
    assert pwn.status_code == 422
    assert "you do not hold" in pwn.get_json()["error"]["fields"]["role_mapping"]
    evil = client.put("/api/v1/sso", headers=mallory, json={
        "enabled": True, "issuer": "https://idp.evil.example", "client_id": "x",
        "client_secret": "y"})
    assert evil.status_code == 422
    assert "log in as any user" in evil.get_json()["error"]["fields"]["enabled"]
    assert db.session.scalar(sa.select(sa.func.count(SsoSettings.id))) == 0
    # What she holds she may map (the provider itself is set by an administrator).
    ok = client.put("/api/v1/sso", headers=mallory,
                    json={"role_mapping": {"helpdesk": ["user-manager"]}})
    assert ok.status_code == 200, ok.get_json()


def test_revoking_and_deleting_need_what_granting_needs(client, shop, make_user):
    company, mallory = shop
    second = user_by_email(company.id, "second@acme.example")
    strip = client.delete(f"/api/v1/users/{second.id}/roles/{admin_role_id(company)}",
                          headers=mallory)
    assert strip.status_code == 403 and strip.get_json()["error"]["code"] == "not_held"
    assert (P.ADMIN_ROLE, "manual") in held(company.id, "second@acme.example")
    desk = make_role(company, "desk", {P.VIEW_TASKS, P.MANAGE_USERS})
    assert client.delete(f"/api/v1/roles/{desk.id}", headers=mallory).status_code == 403
    narrowed = client.patch(f"/api/v1/roles/{desk.id}", headers=mallory,
                            json={"permissions": [P.MANAGE_USERS]})
    assert narrowed.status_code == 422
    assert "do not hold" in narrowed.get_json()["error"]["fields"]["permissions"]
    db.session.expire_all()
    assert set(db.session.get(Role, desk.id).permissions) == {P.VIEW_TASKS, P.MANAGE_USERS}
    # What she holds she may take back, as she may give it.
    helper = make_user(company, "helper@acme.example")
    role_id = db.session.scalar(sa.select(Role.id).where(Role.name == "user-manager"))
    assert client.post(f"/api/v1/users/{helper.id}/roles", headers=mallory,
                       json={"role_id": role_id}).status_code == 200
    assert client.delete(f"/api/v1/users/{helper.id}/roles/{role_id}",
                         headers=mallory).status_code == 204


def test_portal_refuses_too(client, auth, shop):
    from ..conftest import csrf_token

    company, _ = shop
    second = user_by_email(company.id, "second@acme.example")
    assert auth.login("mallory@acme.example").status_code == 302
    token = csrf_token(client, f"/admin/users/{second.id}")
    response = client.post(f"/admin/users/{second.id}/roles/{admin_role_id(company)}/delete",
                           data={"csrf_token": token}, follow_redirects=True)
    assert "carries permissions you do not hold" in response.get_data(as_text=True)
    assert (P.ADMIN_ROLE, "manual") in held(company.id, "second@acme.example")


@pytest.fixture(scope="module")
def idp():
    provider = Provider().start()
    yield provider
    provider.stop()


def test_an_sso_login_never_rebinds_a_bound_user(app, make_company, idp):
    company = make_company("Acme Bank")
    idp.clients.clear()
    idp.users.clear()
    idp.add_client("herald-acme", SECRET, "http://herald.test/sso/acme-bank/callback")
    admin = "admin@acme-bank.example"
    idp.add_user("boss", "idp-pass", email=admin, email_verified=True)
    idp.add_user("impostor", "idp-pass", email=admin, email_verified=True)
    sso_service.save(company.id, sso_service.validate(company.id, {
        "enabled": True, "issuer": idp.issuer, "client_id": "herald-acme",
        "client_secret": SECRET}, None, P.ALL), None)
    db.session.commit()
    assert sso_login(app.test_client(), "acme-bank", "boss").status_code == 302
    bound = db.session.scalar(sa.select(SsoIdentity.subject))
    response = sso_login(app.test_client(), "acme-bank", "impostor")
    assert response.status_code == 403
    assert "linked to another sign-in identity" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(sa.select(SsoIdentity.subject)).all() == [bound]


# -- the property -----------------------------------------------------------------------------

PERMS = sorted(P.ALL)
perm_sets = st.frozensets(st.sampled_from(PERMS), min_size=1, max_size=6)
ROLE_NAMES = ("r0", "r1", "r2", P.ADMIN_ROLE, "user-manager")
PEOPLE = ("admin", "mallory", "other")
actions = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(("r0", "r1", "r2")), perm_sets),
    st.tuples(st.just("update"), st.sampled_from(ROLE_NAMES), perm_sets),
    st.tuples(st.just("delete"), st.sampled_from(ROLE_NAMES)),
    st.tuples(st.just("assign"), st.sampled_from(PEOPLE), st.sampled_from(ROLE_NAMES)),
    st.tuples(st.just("unassign"), st.sampled_from(PEOPLE), st.sampled_from(ROLE_NAMES)),
    st.tuples(st.just("map"), st.dictionaries(st.sampled_from(("staff", "ops")),
                                              st.lists(st.sampled_from(ROLE_NAMES),
                                                       min_size=1, max_size=2), max_size=2),
              st.sampled_from(("sso_only", "replace_all"))),
    st.tuples(st.just("login"), st.sampled_from(PEOPLE)),
    st.tuples(st.just("ingest"), st.sampled_from(PEOPLE), st.booleans()),
)
_companies = itertools.count()


def _email(company, who: str) -> str:
    return f"{who}@{company.slug}.example"


def _act(company, mallory, action) -> None:
    granted = mallory.permissions()
    kind = action[0]
    role = db.session.scalar(sa.select(Role).where(
        Role.company_id == company.id, Role.name == action[-1])) \
        if kind in ("delete", "assign", "unassign") else None
    if kind == "create":
        role_service.save(company.id, role_service.validate(
            company.id, {"name": action[1], "permissions": sorted(action[2])}, granted))
    elif kind == "update":
        role = db.session.scalar(sa.select(Role).where(Role.company_id == company.id,
                                                       Role.name == action[1]))
        if role is not None and not role.builtin:
            role_service.save(company.id, role_service.validate(
                company.id, {"permissions": sorted(action[2])}, granted, role), role)
    elif kind in ("delete", "assign", "unassign") and role is not None:
        if kind == "delete":
            role_service.delete(role, granted)
        else:
            user = user_by_email(company.id, _email(company, action[1]))
            (role_service.assign if kind == "assign" else role_service.unassign)(
                user, role, granted)
    elif kind == "map":
        current = sso_service.settings_of(company.id)
        sso_service.save(company.id, sso_service.validate(
            company.id, {"role_mapping": action[1], "sync_mode": action[2]}, current, granted),
            current)
    elif kind == "login":  # Mallory's own identity, asserting whichever address she likes
        user = sso_service.complete_login(sso_service.settings_of(company.id), {
            "sub": "mallory-sub", "email": _email(company, action[1]), "email_verified": True,
            "groups": ["staff", "ops"]}, datetime.now(UTC))
        assert user.email == _email(company, "mallory") or \
            user.permissions() <= mallory.permissions(), f"logged in as {user.email}"
    elif kind == "ingest":
        record = {"id": f"ext-{action[1]}", "email": _email(company, action[1]),
                  "name": "Renamed", "is_group": action[2]}
        ingest_service.ingest(company.id, "users", [json.dumps(record)])


@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mallory_holds=perm_sets, steps=st.lists(actions, min_size=1, max_size=8))
def test_a_non_admin_never_gains_and_the_company_keeps_its_admin(app, make_company,
                                                                  make_user, mallory_holds,
                                                                  steps):
    company = make_company(f"Prop {next(_companies)}")
    admin = user_by_email(company.id, _email(company, "admin"))
    mallory = make_user(company, _email(company, "mallory"))
    make_user(company, _email(company, "other"))
    give(mallory, make_role(company, "user-manager", mallory_holds | {P.MANAGE_USERS}))
    db.session.add(SsoSettings(company_id=company.id, enabled=True,
                               issuer="https://idp.acme.example", client_id="herald",
                               client_secret="x", role_mapping={}))
    db.session.add(SsoIdentity(company_id=company.id, user_id=admin.id,
                               issuer="https://idp.acme.example", subject="admin-sub"))
    db.session.commit()
    before = mallory.permissions()
    for action in steps:
        try:
            _act(company, mallory, action)
        except (InputError, role_service.RoleConflict, sso_service.SsoError):
            db.session.rollback()
        else:
            db.session.commit()
        db.session.expire_all()
        company = db.session.get(Company, company.id)
        mallory = user_by_email(company.id, _email(company, "mallory"))
        admin = user_by_email(company.id, _email(company, "admin"))
        assert mallory.permissions() <= before, action
        assert admin is not None and admin.active and not admin.is_group, action
        assert admin.permissions() == P.ALL, action
