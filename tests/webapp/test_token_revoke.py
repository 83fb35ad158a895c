"""An administrator ("Manage users and roles") revokes any API token of the company's users,
in the portal (the user's page) and the API; nobody else reaches another user's token, and
another company's tokens are as unknown as missing ones."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import ApiToken, AuditEvent

from ..conftest import csrf_token


def _token_of(user) -> ApiToken:
    from webapp.services import tokens

    token, _ = tokens.issue(user, "laptop", "read")
    db.session.commit()
    return token


def test_the_portal_revokes_a_users_token_from_their_page(auth, make_company, make_user):
    acme = make_company("Acme")
    make_company("Other")
    dev = make_user(acme, "dev@acme.example")
    token = _token_of(dev)
    auth.login("admin@acme.example")
    page = auth.client.get(f"/admin/users/{dev.id}").get_data(as_text=True)
    assert 'id="user-tokens"' in page and "laptop" in page
    path = f"/admin/users/{dev.id}/tokens/{token.id}/revoke"
    answer = auth.client.post(path, data={"csrf_token": csrf_token(auth.client)})
    assert answer.status_code == 302 and answer.headers["Location"] == f"/admin/users/{dev.id}"
    assert not _exists(token.id)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "token.revoke"))
    assert event.actor == "admin@acme.example" and event.target_name == "dev@acme.example"


def test_nobody_reaches_a_token_that_is_not_theirs_to_revoke(app, auth, make_company,
                                                              make_user, api_token):
    acme, other = make_company("Acme"), make_company("Other")
    dev = make_user(acme, "dev@acme.example")
    mine = _token_of(dev)
    outsider = _token_of(make_user(other, "x@other.example"))
    auth.login("admin@acme.example")
    # Another company's token, through this company's user or through its own user: 404.
    for path in (f"/admin/users/{dev.id}/tokens/{outsider.id}/revoke",
                 f"/admin/users/{outsider.user_id}/tokens/{outsider.id}/revoke"):
        answer = auth.client.post(path, data={"csrf_token": csrf_token(auth.client)})
        assert answer.status_code == 404
    assert app.test_client().delete(f"/api/v1/tokens/{mine.id}",
                                    headers=api_token(other)).status_code == 404
    # A colleague without "Manage users and roles" finds no token but their own.
    by_dev = {"Authorization": f"Bearer {_plain(dev)}"}
    admin = api_token(acme)
    admin_id = max(db.session.scalars(sa.select(ApiToken.id)))
    for token_id in (admin_id, outsider.id):
        assert app.test_client().delete(f"/api/v1/tokens/{token_id}",
                                        headers=by_dev).status_code == 404
        assert _exists(token_id)
    # The company's administrator does.
    assert app.test_client().delete(f"/api/v1/tokens/{mine.id}", headers=admin).status_code == 204
    assert not _exists(mine.id)


def _plain(user) -> str:
    from webapp.services import tokens

    _, plain = tokens.issue(user, "script", "admin")
    db.session.commit()
    return plain


def _exists(token_id: int) -> bool:
    """Whether the token is still in the database (not this session's memory of it)."""
    return db.session.scalar(sa.select(sa.func.count()).where(ApiToken.id == token_id)) == 1
