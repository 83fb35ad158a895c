"""Configuration, migrations, the CLI and the OpenAPI document."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp import config
from webapp.extensions import db
from webapp.models import ApiToken, Company, Role, User

ROOT = Path(__file__).resolve().parents[2]


def test_refuses_default_secrets_outside_debug(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    with pytest.raises(config.ConfigError) as exc:
        config.check(config.from_environ(str(tmp_path), env))
    assert "SECRET_KEY and HERALD_ENCRYPTION_KEY" in str(exc.value)
    env.update(SECRET_KEY="s" * 40, HERALD_ENCRYPTION_KEY="k")
    config.check(config.from_environ(str(tmp_path), env))  # accepted
    config.check(config.from_environ(str(tmp_path), {"FLASK_DEBUG": "1"}))  # debug: allowed


def test_config_reads_the_environment(tmp_path):
    cfg = config.from_environ(str(tmp_path), {
        "DATABASE_URL": "postgres://u:p@db/herald", "BASE_URL": "https://herald.example/",
        "SMTP_URL": "smtps://u:p@mail:465", "REPORTS_DIR": "/srv/reports"})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db/herald"
    assert cfg["BASE_URL"] == "https://herald.example" and cfg["SESSION_COOKIE_SECURE"]
    assert cfg["REPORTS_DIR"] == "/srv/reports" and cfg["REDIS_URL"] is None
    defaults = config.from_environ(str(tmp_path), {})
    assert defaults["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'herald.db'}"
    assert (defaults["DISPATCH_INTERVAL"], defaults["DISPATCH_AHEAD"]) == (1, 60)
    assert config.from_environ(str(tmp_path), {"DISPATCH_AHEAD": "0"})["DISPATCH_AHEAD"] == 0
    with pytest.raises(config.ConfigError, match="DISPATCH_AHEAD must be 0 or more"):
        config.check(config.from_environ(str(tmp_path), {"DISPATCH_AHEAD": "-5",
                                                          "FLASK_DEBUG": "1"}))


def _flask(args, env):
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_migrations_build_the_models_schema(tmp_path):
    """`db upgrade` on an empty database gives exactly the models' schema (`db check`)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if base:  # a scratch database beside the test one
        name = f"herald_mig_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://"),
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = base.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite:///{tmp_path / 'migrated.db'}"
    env = {**os.environ, "DATABASE_URL": url, "FLASK_DEBUG": "1",
           "REPORTS_DIR": str(tmp_path / "reports")}
    try:
        upgrade = _flask(["db", "upgrade"], env)
        assert upgrade.returncode == 0, upgrade.stderr
        check = _flask(["db", "check"], env)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "No new upgrade operations detected" in check.stdout + check.stderr
        created = _flask(["companies", "create", "Migrated Ltd", "--timezone", "UTC",
                          "--admin-email", "a@migrated.example", "--admin-password",
                          "long enough"], env)
        assert created.returncode == 0 and created.stdout.strip() == "migrated-ltd", created.stderr
    finally:
        if base:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()


def test_cli_companies_users_and_tokens(runner, app):
    result = runner.invoke(args=["companies", "create", "Acme Bank", "--timezone", "Mars/Base",
                                 "--admin-email", "a@acme.example", "--admin-password", "x" * 10])
    assert result.exit_code != 0 and "timezone: Time zone must be an IANA name" in result.output
    result = runner.invoke(args=["companies", "create", "Acme Bank", "--timezone",
                                 "America/New_York", "--admin-email", "Boss@Acme.example",
                                 "--admin-password", "x" * 10])
    assert result.exit_code == 0 and result.output.strip() == "acme-bank"
    company = db.session.scalar(sa.select(Company).where(Company.slug == "acme-bank"))
    roles = {r.name for r in db.session.scalars(sa.select(Role).where(
        Role.company_id == company.id))}
    assert roles == {"company-admin", "scheduled-reports.viewer"}

    result = runner.invoke(args=["users", "create", "--company", "acme-bank", "--email",
                                 "lists@acme.example", "--group"])
    assert result.exit_code == 0
    result = runner.invoke(args=["users", "create", "--company", "acme-bank", "--email",
                                 "LISTS@acme.example"])
    assert result.exit_code != 0 and "already exists" in result.output
    result = runner.invoke(args=["users", "create", "--company", "acme-bank", "--email",
                                 "lists2@acme.example", "--group", "--role", "company-admin"])
    assert result.exit_code != 0 and "group email cannot hold a role" in result.output

    result = runner.invoke(args=["users", "token", "--company", "acme-bank", "boss@acme.example"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert token.startswith("hrld_") and "\n" not in token
    stored = db.session.scalar(sa.select(ApiToken))
    assert stored.token_hash == ApiToken.hash(token) and token not in stored.token_hash
    client = app.test_client()
    response = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.get_json() == {"tasks": [], "next_cursor": None}
    response = client.get("/api/v1/tasks", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    admin = db.session.scalar(sa.select(User).where(User.email_key == "boss@acme.example"))
    assert admin.password_hash and "x" * 10 not in admin.password_hash


def test_openapi_is_generated_from_the_routes(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path, methods in {
        "/api/v1/report-types": {"get"}, "/api/v1/schedules/preview": {"get"},
        "/api/v1/tasks": {"get", "post"}, "/api/v1/tasks/{task_id}": {"get", "patch", "delete"},
        "/api/v1/tasks/{task_id}/runs": {"get", "post"}, "/api/v1/runs/{run_id}": {"get"},
        "/api/v1/runs/{run_id}/csv": {"get"}, "/api/v1/ingest/{kind}": {"post"},
    }.items():
        assert methods <= set(paths[path]), path
    # Every API route of the app is documented.
    documented = {p.replace("{", "<").replace("}", ">") for p in paths}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api.openapi":
            assert rule.rule.replace("int:", "") in documented, rule.rule
    assert {"Task", "Run", "Error", "ReportType"} <= set(spec["components"]["schemas"])


def test_api_errors_have_the_documented_shape(make_company, api_token, app):
    headers = api_token(make_company("Acme"))
    client = app.test_client()
    response = client.post("/api/v1/tasks", headers=headers, data="not json",
                           content_type="application/json")
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        "body": "The request body must be a JSON object."}
    response = client.post("/api/v1/tasks", headers=headers, json={
        "name": "", "report_type": "usage_by_company", "channels": ["fax"],
        "schedule": {"kind": "hourly", "every": 5, "time": "25:00"},
        "recipients": {"emails": ["bad"]}, "options": {"inactivity_days": 31}})
    body = response.get_json()["error"]
    assert response.status_code == 422 and body["code"] == "invalid"
    assert set(body["fields"]) == {"name", "report_type", "channels", "schedule.every",
                                   "schedule.time", "recipients.emails.0",
                                   "options.inactivity_days"}
    assert "no longer supported" in body["fields"]["report_type"]
    assert client.get("/api/v1/tasks/999", headers=headers).status_code == 404
    response = client.get("/api/v1/schedules/preview?kind=weekly&time=06:30&weekday=mon"
                          "&timezone=Europe/London&after=2026-03-20T00:00:00%2B00:00&count=2",
                          headers=headers)
    runs = response.get_json()["runs"]
    assert runs == [
        {"run_at": "2026-03-23T06:30:00+00:00", "window_start": "2026-03-16T06:30:00+00:00",
         "window_end": "2026-03-23T06:30:00+00:00"},
        {"run_at": "2026-03-30T06:30:00+01:00", "window_start": "2026-03-23T06:30:00+00:00",
         "window_end": "2026-03-30T06:30:00+01:00"}]


def test_readme_lists_every_setting():
    readme = (ROOT / "README.md").read_text()
    for name, meaning, default in config.SETTINGS:
        assert f"| `{name}` | {meaning} | {default} |" in readme, name


def test_every_variable_the_config_reads_is_in_the_settings_table():
    read = set(re.findall(r'env\.get\("([A-Z_]+)"', (ROOT / "webapp" / "config.py").read_text()))
    assert read and read <= {name for name, _, _ in config.SETTINGS}
