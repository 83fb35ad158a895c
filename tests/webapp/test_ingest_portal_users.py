"""Ingestion never changes a portal user's login email, group flag or roles: a conflicting
`users` record is rejected with its line number and the reason, the portal user unchanged;
other fields (name) and users that cannot log in are updated as before."""

from __future__ import annotations

from roles import permissions as P
from webapp.extensions import db
from webapp.models import User

from ..roles.helpers import held, user_by_email
from .test_ingest import post


def test_a_users_record_cannot_rewrite_a_portal_user(client, make_company, api_token):
    company = make_company("Acme Bank")
    headers = api_token(company)
    admin = "admin@acme-bank.example"
    answer = post(client, headers, "users",
                  {"id": "u-ana", "email": "ana@acme.example", "name": "Ana"},
                  {"id": "u-admin", "email": admin, "name": "Boss", "is_group": True},
                  {"id": "u-admin", "email": admin.upper(), "name": "The Boss"}).get_json()
    assert answer["created"] == 1 and answer["updated"] == 1, answer
    assert answer["errors"] == [{"line": 2, "id": "u-admin", "reason": (
        f"would make portal user {admin} a group email; change it in the portal instead")}]
    # The same record again: the email and the group flag stay, the name follows the source.
    db.session.expire_all()
    user = user_by_email(company.id, admin)
    assert (user.email, user.is_group, user.name) == (admin, False, "The Boss")
    moved = post(client, headers, "users",
                 {"id": "u-admin", "email": "someone@else.example", "name": "X"}).get_json()
    assert moved["rejected"] == 1 and moved["errors"][0]["reason"] == (
        f"would change the login email of portal user {admin} to someone@else.example; "
        "change it in the portal instead")
    db.session.expire_all()
    assert user_by_email(company.id, admin).name == "The Boss"
    assert held(company.id, admin) == {(P.ADMIN_ROLE, "manual")}
    # A user who cannot log in is the source's to change.
    again = post(client, headers, "users", {"id": "u-ana", "email": "ana.b@acme.example",
                                            "is_group": True}).get_json()
    assert again["updated"] == 1, again
    db.session.expire_all()
    assert db.session.query(User).filter_by(external_id="u-ana").one().is_group is True
