"""Every route needs a login, and another company's ids answer exactly like missing ones."""

from __future__ import annotations

import re

import pytest

from webapp.extensions import db
from webapp.models import Run

PUBLIC = {"/login", "/healthz", "/api/v1/openapi.json", "/static/<path:filename>", "/favicon.ico",
          "/readyz", "/metrics",  # for operators' probes (METRICS_TOKEN guards /metrics)
          # single sign-on starts before a login (tests/roles/test_sso.py, test_matrix.py)
          "/sso", "/sso/<slug>/login", "/sso/<slug>/callback",
          # forgot password and the emailed link (tests/webapp/test_accounts.py)
          "/password/forgot", "/password/<token>"}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule in PUBLIC:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def _fill(rule, ids: dict) -> str:
    return re.sub(r"<(?:int:)?(\w+)>", lambda m: str(ids.get(m.group(1), "x")), rule.rule)


@pytest.fixture
def two_companies(make_company, api_token, app):
    """Acme with a task and a finished run; Globex, whose admin probes Acme's ids."""
    from datetime import UTC, datetime

    from webapp.services import tasks as task_service

    acme = make_company("Acme")
    globex = make_company("Globex")
    data = task_service.validate(acme, {
        "name": "Rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": ["admin@acme.example"]}})
    now = datetime.now(UTC)
    task = task_service.save(acme, data, now)
    db.session.flush()
    run = Run(company_id=acme.id, task_id=task.id, trigger="manual", window_start=now,
              window_end=now, status="succeeded")
    db.session.add(run)
    db.session.commit()
    from webapp.models import ApiToken, Role, User
    role = db.session.scalar(db.select(Role).where(Role.company_id == acme.id))
    user = db.session.scalar(db.select(User).where(User.company_id == acme.id))
    token, _plain = ApiToken.issue(user, name="acme's")
    db.session.add(token)
    db.session.commit()
    return {"acme": acme, "globex": globex, "task_id": task.id, "run_id": run.id,
            "message_id": 1, "kind": "messages", "role_id": role.id, "user_id": user.id,
            "token_id": token.id}


def test_every_route_requires_login(app, client, two_companies):
    checked = 0
    for rule, method in _routes(app):
        url = _fill(rule, two_companies)
        response = client.open(url, method=method)
        if url.startswith("/api/"):
            assert response.status_code == 401, (method, url, response.status_code)
            assert response.get_json()["error"]["code"] == "unauthorized"
        else:
            # A form POST without a session is refused before anything happens.
            assert response.status_code in (302, 400), (method, url, response.status_code)
            if response.status_code == 302:
                assert "/login?next=" in response.headers["Location"], (method, url)
        checked += 1
    assert checked >= 25


def test_foreign_ids_answer_404(app, two_companies, api_token, auth):
    """Globex's admin, holding every permission in Globex, cannot see any Acme record."""
    headers = api_token(two_companies["globex"])
    client = app.test_client()
    auth.login("admin@globex.example")
    probed = 0
    for rule, method in _routes(app):
        if not any(arg.endswith("_id") for arg in rule.arguments):
            continue
        url = _fill(rule, two_companies)
        if url.startswith("/api/"):
            response = client.open(url, method=method, headers=headers, json={})
            assert response.status_code == 404, (method, url, response.get_data(as_text=True))
            assert response.get_json()["error"]["code"] == "not_found"
        else:
            data = {"csrf_token": _token(auth.client)} if method == "POST" else None
            response = auth.client.open(url, method=method, data=data)
            assert response.status_code == 404, (method, url, response.status_code)
        probed += 1
    assert probed >= 12
    # And the same ids work for Acme's own admin.
    own = api_token(two_companies["acme"])
    assert client.get(f"/api/v1/tasks/{two_companies['task_id']}", headers=own).status_code == 200
    assert client.get(f"/api/v1/runs/{two_companies['run_id']}", headers=own).status_code == 200


def _token(client):
    from ..conftest import csrf_token

    return csrf_token(client, "/tasks")
