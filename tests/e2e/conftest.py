"""The real-server layer: ONE `flask --app app serve` per test session (gunicorn, RQ workers,
scheduler, embedded Redis), as a user starts it, on a fresh database (a temporary SQLite
file, or a fresh database next to TEST_DATABASE_URL's), mailing to an aiosmtpd sink. Tests
talk to it over HTTP with `requests` (and a real browser, tests/e2e/browser); they set
things up through the CLI, in the same environment, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

from jobs.embedded_redis import free_port
from tests.conftest import PASSWORD
from tests.serving import ROOT, Served

# Large enough for the 100 MB ingest tests, small enough that going over it stays quick.
MAX_INGEST_BYTES = 110 * 1024 * 1024


FUZZ_SUMMARIES: list[str] = []  # schemathesis' counts, repeated at the end of the output


def pytest_terminal_summary(terminalreporter):
    for line in FUZZ_SUMMARIES:
        terminalreporter.write_line(line)


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)


def fresh_database(tmp: Path, suffix: str = "e2e") -> str:
    """A database nobody else uses (TEST_DATABASE_URL's name + ``_suffix``, made anew): the
    in-process tests keep TEST_DATABASE_URL's."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp / 'herald.db'}"
    url = sa.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"{url.database}_{suffix}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@dataclass
class Live:
    """The running server, its environment, and helpers to drive it as a user would."""

    served: Served
    env: dict[str, str]
    url: str
    database_url: str

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """`flask --app app ARGS…` in the server's environment; its standard output."""
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=self.env,
            input=stdin, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"flask {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def log(self) -> str:
        return self.served.log()


@pytest.fixture(scope="session")
def live(tmp_path_factory, smtp_server) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    controller, _ = smtp_server
    port = free_port()
    database_url = fresh_database(tmp)
    env = {key: value for key, value in os.environ.items()
           if key not in {"FLASK_DEBUG", "REDIS_URL", "DATABASE_URL", "FLASK_APP"}}
    env.update(
        SECRET_KEY="test-live-secret-key-0123456789abcdef",
        HERALD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DATABASE_URL=database_url,
        REPORTS_DIR=str(tmp / "reports"),
        SMTP_URL=f"smtp://{controller.hostname}:{controller.port}",
        BASE_URL=f"http://127.0.0.1:{port}",
        MAIL_FROM="Herald <reports@herald.example>",
        MAX_INGEST_BYTES=str(MAX_INGEST_BYTES),
        ALLOW_PRIVATE_TARGETS="1",
        # One address (127.0.0.1) logs in for every browser test; the limit of 20 a minute
        # per address has a server of its own in test_security.py.
        LOGIN_ADDRESS_LIMIT="1000 per minute",
        # An account mail refused by the mail server is retried after 2 s, then 5 s.
        ACCOUNT_MAIL_RETRY_DELAYS="2,5",
        PYTHONUNBUFFERED="1",
    )
    upgrade = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                             check=False)
    assert upgrade.returncode == 0, f"db upgrade failed:\n{upgrade.stdout}\n{upgrade.stderr}"
    served = Served(env, tmp / "serve.log", port=port)
    try:
        served.wait_for_login_page()
        yield Live(served, env, f"http://127.0.0.1:{port}", database_url)
    finally:
        served.stop()
        log = (tmp / "serve.log").read_text(errors="replace")
        # A traceback in the server's log is a bug even when every answer looked right.
        at = log.find("Traceback (most recent call last)")
        assert at < 0, f"the live server logged a traceback:\n{log[max(0, at - 300):at + 6000]}"


@dataclass
class Tenant:
    """A company made through the CLI, with its admin and an API token for them."""

    slug: str
    admin_email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_tenant(live: Live, name: str) -> Tenant:
    slug_hint = name.lower().replace(" ", "-")
    admin = f"admin@{slug_hint}.example"
    slug = live.cli("companies", "create", name, "--timezone", "Europe/London",
                    "--admin-email", admin, "--admin-password", PASSWORD).strip()
    token = live.cli("users", "token", "--company", slug, admin).strip().splitlines()[-1]
    return Tenant(slug, admin, PASSWORD, token)


@pytest.fixture(scope="session")
def tenant(live) -> Tenant:
    """One company for the session; tests that need a clean slate make their own."""
    return make_tenant(live, "Live Bank")


@pytest.fixture
def api(live, tenant) -> Iterator[requests.Session]:
    """A `requests` session for the tenant's admin; relative paths go to the live server."""
    session = _BaseUrlSession(live.url)
    session.headers.update(tenant.headers)
    yield session
    session.close()


class _BaseUrlSession(requests.Session):
    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 120)
        return super().request(method, self.base + url if url.startswith("/") else url,
                               *args, **kwargs)
