"""A form sent after its login session expired loses nothing typed (webapp/views/drafts.py):
the role form, the new-user form and the new-API-token form come back filled in after
logging in again, with a flash, and nothing is saved until they are sent again. Both ways a
session expires: the CSRF token refused (the cookie gone), and the login timed out while
the cookie (and its CSRF token) stayed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import ApiToken, LoginSession, Role, User

from ..conftest import Auth, csrf_token

BACK = "what you typed is back, and nothing was saved"


def _expire_by_csrf(app, path: str, data: dict):
    """The cookie is gone: a new client sends the form with a stale token."""
    client = app.test_client()
    return client, client.post(path, data={**data, "csrf_token": "stale"})


def _expire_by_idle(auth, path: str, data: dict):
    """The login timed out; the cookie, and so its CSRF token, is still there."""
    token = csrf_token(auth.client, path)
    for login in db.session.scalars(sa.select(LoginSession)):
        login.last_seen_at = datetime.now(UTC) - timedelta(minutes=61)
    db.session.commit()
    return auth.client, auth.client.post(path, data={**data, "csrf_token": token})


def _back_after_login(client, response, path: str) -> str:
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={path}"
    login_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Log in again: what you typed will be back" in login_page
    back = Auth(client).login("admin@acme.example", next_path=path)
    assert back.headers["Location"] == path
    page = client.get(path).get_data(as_text=True)
    assert BACK in page
    assert BACK not in client.get(path).get_data(as_text=True)  # once
    return page


@pytest.fixture(params=["csrf", "idle"])
def expire(request, app, auth, make_company):
    make_company("Acme")
    auth.login("admin@acme.example")
    if request.param == "csrf":
        return lambda path, data: _expire_by_csrf(app, path, data)
    return lambda path, data: _expire_by_idle(auth, path, data)


def test_the_role_form_comes_back_after_logging_in(expire):
    path = "/admin/roles/new"
    client, response = expire(path, {"name": "Typed role", "description": "Kept words",
                                     "permissions": ["scheduled_reports.view",
                                                     "scheduled_reports.edit"]})
    page = _back_after_login(client, response, path)
    assert 'value="Typed role"' in page and 'value="Kept words"' in page
    assert 'value="scheduled_reports.view" checked' in page
    assert 'value="scheduled_reports.edit" checked' in page
    assert db.session.scalar(sa.select(Role).where(Role.name == "Typed role")) is None


def test_the_role_edit_form_comes_back_after_logging_in(app, auth, make_company):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    client.post("/admin/roles/new", data={"csrf_token": csrf_token(client, "/admin/roles/new"),
                                          "name": "Readers",
                                          "permissions": ["scheduled_reports.view"]})
    role = db.session.scalar(sa.select(Role).where(Role.name == "Readers"))
    path = f"/admin/roles/{role.id}/edit"
    fresh, response = _expire_by_csrf(app, path, {"name": "Readers renamed",
                                                  "permissions": []})
    page = _back_after_login(fresh, response, path)
    assert 'value="Readers renamed"' in page
    assert 'value="scheduled_reports.view" checked' not in page  # unticked as typed
    db.session.refresh(role)
    assert role.name == "Readers" and role.permissions == ["scheduled_reports.view"]


def test_the_user_form_comes_back_after_logging_in(expire):
    path = "/admin/users/new"
    client, response = expire(path, {"email": "typed@acme.example", "name": "Typed Person",
                                     "is_group": "1"})  # "invite" unticked
    page = _back_after_login(client, response, path)
    assert 'value="typed@acme.example"' in page and 'value="Typed Person"' in page
    assert 'name="is_group" value="1" checked' in page
    assert 'name="invite" value="1" checked' not in page
    assert db.session.scalar(sa.select(User).where(User.email == "typed@acme.example")) is None


def test_the_token_form_comes_back_after_logging_in_and_keeps_no_token(expire):
    path = "/account/tokens"
    client, response = expire(path, {"name": "Typed token", "scope": "ingest",
                                     "expires_days": "30", "token": "hb_not_typed_here"})
    with client.session_transaction() as session:
        assert "hb_not_typed_here" not in str(dict(session))  # only name, scope, expiry
    page = _back_after_login(client, response, path)
    assert 'value="Typed token"' in page and 'value="30"' in page
    assert '<option value="ingest" selected>' in page
    assert "hb_not_typed_here" not in page
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_a_live_login_with_a_refused_token_goes_straight_back(auth, make_company):
    make_company("Acme")
    auth.login("admin@acme.example")
    response = auth.client.post("/admin/roles/new", data={"csrf_token": "stale",
                                                          "name": "Straight back"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/roles/new"
    page = auth.client.get("/admin/roles/new").get_data(as_text=True)
    assert 'value="Straight back"' in page and BACK in page


def test_a_draft_comes_back_only_on_its_own_form(auth, make_company):
    make_company("Acme")
    auth.login("admin@acme.example")
    auth.client.post("/admin/roles/new", data={"csrf_token": "stale", "name": "Role typed"})
    assert "Role typed" not in auth.client.get("/admin/users/new").get_data(as_text=True)
    assert "Role typed" in auth.client.get("/admin/roles/new").get_data(as_text=True)


def test_the_task_form_keeps_what_was_typed_when_its_login_timed_out(auth, make_company):
    from .test_portal import STEP1

    make_company("Acme")
    auth.login("admin@acme.example")
    client, response = _expire_by_idle(auth, "/tasks/new", {
        **STEP1, "name": "Outlived its login", "step": "1", "action": "next"})
    page = _back_after_login(client, response, "/tasks/new")
    assert 'value="Outlived its login"' in page


def test_a_draft_comes_back_only_to_the_user_whose_login_expired(auth, make_company):
    """The login timed out with its cookie still there: someone else who logs in on that
    browser (here another company's admin) finds the form empty."""
    make_company("Acme")
    make_company("Other")
    auth.login("admin@acme.example")
    path = "/admin/roles/new"
    client, response = _expire_by_idle(auth, path, {"name": "Acme's secret plan",
                                                    "description": "Not for others"})
    assert response.headers["Location"] == f"/login?next={path}"
    assert Auth(client).login("admin@other.example", next_path=path).status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert "Acme&#39;s secret plan" not in page and "Not for others" not in page
    assert BACK not in page
