"""Every route × persona → the expected status (docs/product.md §1 and §6).

Personas: anonymous; a recipient holding only the automatic ``scheduled-reports.viewer`` role;
a user with a custom role holding one download permission (the run's type); the company
admin; another company's admin. The routes come from ``app.url_map``: a new route without an
expectation here fails ``test_every_route_has_an_expectation``.

Portal requests use a logged-in session and a valid CSRF token; API requests a bearer token.
Each route gets a fresh database; within a route the personas go in the order below, so that
a destructive success (the admin's) comes last.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from roles import permissions as P
from webapp.extensions import db
from webapp.models import OutboxMessage, Role, SsoIdentity, User

from ..conftest import PASSWORD, Auth, csrf_token
from .helpers import finished_run, give, make_role, make_task, user_by_email

PERSONAS = ("anonymous", "viewer", "custom", "other", "admin")


def row(anonymous, viewer, custom, other, admin):
    return dict(zip(PERSONAS, (anonymous, viewer, custom, other, admin), strict=True))


def staff(anonymous, member, other, admin):
    """Viewer and custom role alike (neither holds a staff permission)."""
    return row(anonymous, member, member, other, admin)


FORBIDDEN_LIST = staff(302, 403, 200, 200)     # a company-wide page: other admin sees their own
FORBIDDEN_OBJECT = staff(302, 403, 404, 200)   # one record of the company
API_LIST = staff(401, 403, 200, 200)
API_OBJECT = staff(401, 403, 404, 200)

# (method, rule) → expected status per persona, and the request body where one is needed.
EXPECTED: dict[tuple[str, str], dict] = {
    ("GET", "/static/<path:filename>"): row(200, 200, 200, 200, 200),
    ("GET", "/healthz"): row(200, 200, 200, 200, 200),
    ("GET", "/favicon.ico"): row(200, 200, 200, 200, 200),
    ("GET", "/readyz"): row(503, 503, 503, 503, 503),  # no worker in this test
    ("GET", "/metrics"): row(200, 200, 200, 200, 200),  # no METRICS_TOKEN here
    ("GET", "/login"): row(200, 302, 302, 302, 302),
    ("POST", "/login"): row(200, 302, 302, 302, 302),
    ("POST", "/logout"): row(302, 302, 302, 302, 302),
    ("GET", "/"): row(302, 302, 302, 302, 302),
    ("GET", "/tasks"): FORBIDDEN_LIST,
    ("GET", "/tasks/preview"): FORBIDDEN_LIST,
    ("GET", "/tasks/channels"): FORBIDDEN_LIST,
    ("GET", "/tasks/schedule-fields"): FORBIDDEN_LIST,
    ("GET", "/tasks/<int:task_id>/duplicate"): FORBIDDEN_OBJECT,
    ("POST", "/tasks/<int:task_id>/active"): staff(302, 403, 404, 302),
    ("GET", "/tasks/new"): FORBIDDEN_LIST,
    ("POST", "/tasks/new"): staff(302, 403, 422, 422),
    ("GET", "/tasks/<int:task_id>"): FORBIDDEN_OBJECT,
    ("GET", "/tasks/<int:task_id>/edit"): FORBIDDEN_OBJECT,
    ("POST", "/tasks/<int:task_id>/edit"): staff(302, 403, 404, 422),
    ("POST", "/tasks/<int:task_id>/delete"): staff(302, 403, 404, 302),
    ("POST", "/tasks/<int:task_id>/run"): staff(302, 403, 404, 302),
    ("POST", "/tasks/<int:task_id>/send-test"): staff(302, 403, 404, 302),
    ("POST", "/alerts"): staff(302, 403, 302, 302),  # one's own opt-in to alerts
    # Recipients see the run's page and download with the type's permission.
    ("GET", "/runs/<int:run_id>"): row(302, 200, 200, 404, 200),
    ("GET", "/runs/<int:run_id>/download"): row(302, 200, 200, 404, 200),
    ("POST", "/runs/<int:run_id>/retry"): staff(302, 403, 404, 302),
    ("GET", "/admin/outbox"): FORBIDDEN_LIST,
    ("GET", "/admin/outbox.csv"): FORBIDDEN_LIST,
    ("GET", "/admin/outbox/<int:message_id>"): FORBIDDEN_OBJECT,
    ("GET", "/admin/audit"): FORBIDDEN_LIST,
    ("GET", "/admin/audit.csv"): FORBIDDEN_LIST,
    ("GET", "/admin/roles"): FORBIDDEN_LIST,
    ("GET", "/admin/roles/new"): FORBIDDEN_LIST,
    ("POST", "/admin/roles/new"): staff(302, 403, 422, 422),
    ("GET", "/admin/roles/<int:role_id>"): FORBIDDEN_OBJECT,
    ("GET", "/admin/roles/<int:role_id>/edit"): FORBIDDEN_OBJECT,
    ("POST", "/admin/roles/<int:role_id>/edit"): staff(302, 403, 404, 422),
    ("POST", "/admin/roles/<int:role_id>/delete"): staff(302, 403, 404, 302),
    ("GET", "/admin/users"): FORBIDDEN_LIST,
    ("GET", "/admin/users/<int:user_id>"): FORBIDDEN_OBJECT,
    ("POST", "/admin/users/<int:user_id>/roles"): staff(302, 403, 404, 302),
    ("POST", "/admin/users/<int:user_id>/roles/<int:role_id>/delete"):
        staff(302, 403, 404, 302),
    ("GET", "/admin/users/new"): FORBIDDEN_LIST,
    ("POST", "/admin/users/new"): staff(302, 403, 422, 422),
    ("POST", "/admin/users/<int:user_id>/invite"): staff(302, 403, 404, 302),
    ("POST", "/admin/users/<int:user_id>/deactivate"): staff(302, 403, 404, 302),
    ("POST", "/admin/users/<int:user_id>/reactivate"): staff(302, 403, 404, 302),
    ("POST", "/admin/users/<int:user_id>/tokens/<int:token_id>/revoke"): staff(302, 403, 404, 404),
    # Rita is bound to an SSO identity (the world below): the admin unlinks it.
    ("POST", "/admin/users/<int:user_id>/sso/unlink"): staff(302, 403, 404, 302),
    # The task form's "Invite them" (no address given here: not a user).
    ("POST", "/admin/users/invite"): staff(302, 403, 404, 404),
    # Everyone logged in has My reports (the landing page of those without the task list).
    ("GET", "/my/reports"): row(302, 200, 200, 200, 200),
    # Forgot password and the emailed link need no login; no address here → 422, a link
    # that is not one → 410.
    ("GET", "/password/forgot"): row(200, 200, 200, 200, 200),
    ("POST", "/password/forgot"): row(422, 422, 422, 422, 422),
    ("GET", "/password/<token>"): row(410, 410, 410, 410, 410),
    ("POST", "/password/<token>"): row(410, 410, 410, 410, 410),
    ("GET", "/admin/sso"): FORBIDDEN_LIST,
    ("POST", "/admin/sso"): staff(302, 403, 422, 422),
    ("GET", "/sso"): row(302, 302, 302, 302, 302),
    # No SSO configured for the company: its login and callback do not exist.
    ("GET", "/sso/<slug>/login"): row(404, 404, 404, 404, 404),
    ("GET", "/sso/<slug>/callback"): row(404, 404, 404, 404, 404),
    # API
    ("GET", "/api/v1/openapi.json"): row(200, 200, 200, 200, 200),
    ("GET", "/api/v1/report-types"): row(401, 200, 200, 200, 200),
    ("GET", "/api/v1/schedules/preview"): row(401, 200, 200, 200, 200),
    ("GET", "/api/v1/tasks"): API_LIST,
    ("POST", "/api/v1/tasks"): staff(401, 403, 422, 422),
    ("GET", "/api/v1/tasks/<int:task_id>"): API_OBJECT,
    ("PATCH", "/api/v1/tasks/<int:task_id>"): API_OBJECT,
    ("DELETE", "/api/v1/tasks/<int:task_id>"): staff(401, 403, 404, 204),
    ("POST", "/api/v1/tasks/<int:task_id>/runs"): staff(401, 403, 404, 202),
    ("POST", "/api/v1/servers/test"): staff(401, 403, 422, 422),
    ("GET", "/api/v1/tasks/<int:task_id>/runs"): API_OBJECT,
    ("GET", "/api/v1/runs/<int:run_id>"): row(401, 200, 200, 404, 200),
    ("GET", "/api/v1/runs/<int:run_id>/csv"): row(401, 200, 200, 404, 200),
    ("POST", "/api/v1/ingest/<kind>"): API_LIST,
    ("GET", "/api/v1/permissions"): API_LIST,
    ("GET", "/api/v1/roles"): API_LIST,
    ("POST", "/api/v1/roles"): staff(401, 403, 422, 422),
    ("GET", "/api/v1/roles/<int:role_id>"): API_OBJECT,
    ("PATCH", "/api/v1/roles/<int:role_id>"): API_OBJECT,
    ("DELETE", "/api/v1/roles/<int:role_id>"): staff(401, 403, 404, 204),
    ("GET", "/api/v1/users"): API_LIST,
    ("GET", "/api/v1/users/<int:user_id>"): API_OBJECT,
    ("POST", "/api/v1/users/<int:user_id>/roles"): staff(401, 403, 404, 200),
    # The viewer's role is an automatic (recipient) assignment: it cannot be removed by hand
    # (no manual assignment to remove: 404).
    ("DELETE", "/api/v1/users/<int:user_id>/roles/<int:role_id>"): staff(401, 403, 404, 404),
    ("POST", "/api/v1/users"): staff(401, 403, 422, 422),
    ("PATCH", "/api/v1/users/<int:user_id>"): API_OBJECT,
    ("POST", "/api/v1/users/<int:user_id>/invite"): staff(401, 403, 404, 202),
    ("DELETE", "/api/v1/users/<int:user_id>/sso"): staff(401, 403, 404, 204),
    ("GET", "/api/v1/sso"): API_LIST,
    ("GET", "/api/v1/audit"): API_LIST,
    ("PUT", "/api/v1/sso"): API_LIST,
    # Everyone's own API tokens (999999: nobody's).
    ("GET", "/api/v1/tokens"): row(401, 200, 200, 200, 200),
    ("POST", "/api/v1/tokens"): row(401, 422, 422, 422, 422),
    ("DELETE", "/api/v1/tokens/<int:token_id>"): row(401, 404, 404, 404, 404),
    ("GET", "/account/tokens"): row(302, 200, 200, 200, 200),
    ("POST", "/account/tokens"): row(302, 422, 422, 422, 422),
    ("POST", "/account/tokens/<int:token_id>/revoke"): row(302, 404, 404, 404, 404),
}

# Bodies: valid where a success is expected, empty (→ 422) where validation is the point.
BODIES = {
    ("POST", "/admin/users/<int:user_id>/roles"): lambda ids: {"role_id": ids["role_id"]},
    ("POST", "/api/v1/users/<int:user_id>/roles"): lambda ids: {"role_id": ids["role_id"]},
    ("PATCH", "/api/v1/tasks/<int:task_id>"): lambda ids: {"name": "Renamed"},
    ("PATCH", "/api/v1/roles/<int:role_id>"): lambda ids: {"description": "Renamed"},
    ("PUT", "/api/v1/sso"): lambda ids: {"groups_claim": "groups"},
}
# /tasks/preview, /tasks/channels and /tasks/schedule-fields are htmx fragments (the form
# asks with HX-Request).
HEADERS = {"/tasks/preview": {"HX-Request": "true"}, "/tasks/channels": {"HX-Request": "true"},
           "/tasks/schedule-fields": {"HX-Request": "true"}}
QUERIES = {
    "/api/v1/schedules/preview": "?kind=daily&time=06:30",
    "/tasks/preview": "?schedule_kind=daily&schedule_time=06:30&timezone=Europe/London",
    "/tasks/channels": "?report_type=wecom_irregularities",
    "/tasks/schedule-fields": "?schedule_kind=weekly&schedule_time=06:30",
}


def _routes(app) -> set[tuple[str, str]]:
    return {(m, r.rule) for r in app.url_map.iter_rules()
            for m in r.methods - {"HEAD", "OPTIONS"}}


def test_every_route_has_an_expectation(app):
    routes = _routes(app)
    assert routes - EXPECTED.keys() == set(), "routes without an expectation in the matrix"
    assert EXPECTED.keys() - routes == set(), "expectations for routes that do not exist"


# One cheap hash for every persona: the login code checks it for real, without ~0.25 s of
# scrypt per user and per login in each of the ~60 cases.
FAST_HASH = generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")


@pytest.fixture
def world(app, api_token, redis_conn):
    from webapp.services.people import create_company, create_user

    acme = create_company("Acme Bank", "Europe/London", "admin@acme-bank.example")
    other = create_company("Other Co", "Europe/London", "admin@other-co.example")
    create_user(acme, "rita@acme.example")         # a recipient: the viewer role only
    carl = create_user(acme, "carl@acme.example")  # one download permission, by a custom role
    db.session.commit()
    role = make_role(acme, "rooms-downloader", {P.download_permission("usage_by_rooms")})
    give(carl, role)
    task = make_task(acme, ["rita@acme.example"])
    run = finished_run(task)
    message = OutboxMessage(company_id=acme.id, to_addr="rita@acme.example", from_addr="h@x",
                            subject="s", text_body="t", html_body="h", message_id="<m@x>")
    db.session.add(message)
    for user in db.session.scalars(sa.select(User)):
        user.password_hash = FAST_HASH
    db.session.commit()
    rita = user_by_email(acme.id, "rita@acme.example")
    db.session.add(SsoIdentity(company_id=acme.id, user_id=rita.id, subject="rita",
                               issuer="https://login.acme.example"))
    db.session.commit()
    viewer = db.session.scalar(sa.select(Role).where(Role.company_id == acme.id,
                                                     Role.name == P.VIEWER_ROLE))
    ids = {"task_id": task.id, "run_id": run.id, "message_id": message.id, "role_id": role.id,
           "user_id": rita.id, "slug": acme.slug, "kind": "users",
           "filename": "herald.css", "viewer_role_id": viewer.id, "token_id": 999999}
    emails = {"viewer": "rita@acme.example", "custom": "carl@acme.example",
              "admin": "admin@acme-bank.example", "other": "admin@other-co.example"}
    companies = {"viewer": acme, "custom": acme, "admin": acme, "other": other}
    tokens = {p: api_token(companies[p], emails[p]) for p in emails}
    return ids, emails, tokens


def _url(rule: str, ids: dict) -> str:
    url = rule
    for converter, name in (("int:", "task_id"), ("int:", "run_id"), ("int:", "message_id"),
                            ("int:", "user_id"), ("", "slug"), ("", "kind"),
                            ("path:", "filename"), ("int:", "token_id")):
        url = url.replace(f"<{converter}{name}>", str(ids[name]))
    # /admin/users/<user_id>/roles/<role_id>: the viewer's recipient assignment, not manual.
    role_id = ids["viewer_role_id"] if "/users/" in rule else ids["role_id"]
    return url.replace("<int:role_id>", str(role_id)) + QUERIES.get(rule, "")


@pytest.mark.parametrize("method, rule", sorted(EXPECTED), ids=lambda v: v)
def test_route_answers_each_persona(app, world, method, rule):
    ids, emails, tokens = world
    url = _url(rule, ids)
    body = BODIES.get((method, rule), lambda ids: {})(ids)
    got = {}
    for persona in PERSONAS:
        client = app.test_client()
        if rule.startswith("/api/"):
            headers = tokens.get(persona, {})
            response = client.open(url, method=method, headers=headers,
                                   json=body if method in ("POST", "PATCH", "PUT") else None)
        else:
            if persona != "anonymous":
                assert Auth(client).login(emails[persona]).status_code == 302
            data = None
            if method == "POST":
                data = {**body, "csrf_token": csrf_token(client)}
            response = client.open(url, method=method, data=data,
                                   headers=HEADERS.get(rule, {}))
        got[persona] = response.status_code
        response.close()
    assert got == EXPECTED[(method, rule)], f"{method} {url}"
