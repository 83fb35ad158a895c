"""Fixtures: a real Redis, a real SMTP server, the app on SQLite (or PostgreSQL when
TEST_DATABASE_URL is set), a client with a login helper, and a burst worker."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field

import pytest
import redis as redis_lib
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from flask.testing import FlaskClient

from jobs.embedded_redis import EmbeddedRedis, free_port
from webapp import create_app
from webapp.extensions import db

PASSWORD = "correct horse battery"
# FTP/FTPS/SFTP servers, proxies and an uploadable report type for the delivery tests.
pytest_plugins = ["tests.delivery_servers", "tests.s3_server"]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_conn(redis_url):
    conn = redis_lib.Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@dataclass
class Mailbox:
    messages: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # Addresses whose next RCPT TO is answered "451" (a mail server refusing for a while).
    refuse: set = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        with self.lock:
            if address.lower() in self.refuse:
                self.refuse.discard(address.lower())
                return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        from email import message_from_bytes, policy

        with self.lock:
            self.messages.append((envelope.rcpt_tos, message_from_bytes(
                envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="session")
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server):
    controller, box = smtp_server
    with box.lock:
        box.messages.clear()
        box.refuse.clear()
    return box


def _database_url(tmp_path_factory) -> str:
    return os.environ.get("TEST_DATABASE_URL") or \
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def _schema(tmp_path_factory):
    """Create the schema once per session (the migrations have their own test)."""
    url = _database_url(tmp_path_factory)
    app = create_app(_config(url, tmp_path_factory.mktemp("reports"), None))
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.engine.dispose()
    return url


def _config(db_url, reports_dir, redis_url, smtp_url=None) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": db_url if not db_url.startswith("postgresql://")
        else "postgresql+psycopg://" + db_url[len("postgresql://"):],
        "REDIS_URL": redis_url,
        "REPORTS_DIR": str(reports_dir),
        "SECRET_KEY": "test-secret",
        "HERALD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SMTP_URL": smtp_url,
        "BASE_URL": "http://herald.test",
        "MAIL_FROM": "Herald <reports@herald.example>",
        "ALLOW_PRIVATE_TARGETS": True,  # the test servers listen on loopback
    }


class IsolatedClient(FlaskClient):
    """Each request gets its own app context (its own ``g`` and database session), as in
    production, although the test body holds one open for its own queries."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(_schema, tmp_path, redis_url, redis_conn):
    app = create_app(_config(_schema, tmp_path / "reports", redis_url))
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def smtp_app(app, smtp_server):
    controller, _ = smtp_server
    app.config["SMTP_URL"] = f"smtp://{controller.hostname}:{controller.port}"
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def work(app, redis_conn):
    """Run every queued job now, in this process (a burst worker)."""
    from jobs.worker import work_burst

    def run() -> bool:
        return work_burst(app, redis_conn)

    return run


def csrf_token(client, path: str = "/login") -> str:
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, email: str, password: str = PASSWORD, next_path: str | None = None,
              company: str = ""):
        token = csrf_token(self.client)
        url = "/login" + (f"?next={next_path}" if next_path else "")
        return self.client.post(url, data={"email": email, "password": password,
                                           "company": company, "csrf_token": token})

    def logout(self):
        return self.client.post("/logout", data={"csrf_token": csrf_token(self.client, "/tasks")})


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture
def make_company(app):
    """A company with an admin (admin@<slug>.example, PASSWORD)."""
    from webapp.services.people import create_company

    def make(name: str = "Acme Bank", timezone: str = "Europe/London"):
        slug_hint = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        company = create_company(name, timezone, f"admin@{slug_hint}.example", PASSWORD)
        db.session.commit()
        return company

    return make


@pytest.fixture
def make_user(app):
    from webapp.services.people import create_user

    def make(company, email: str, password: str | None = PASSWORD, **kwargs):
        user = create_user(company, email, password=password, **kwargs)
        db.session.commit()
        return user

    return make


@pytest.fixture
def api_token(app):
    from webapp.models import ApiToken, User

    def issue(company, email: str | None = None) -> dict:
        email = email or f"admin@{company.slug}.example"
        user = db.session.scalar(sa.select(User).where(User.company_id == company.id,
                                                       User.email_key == email.lower()))
        token, plain = ApiToken.issue(user)
        db.session.add(token)
        db.session.commit()
        return {"Authorization": f"Bearer {plain}"}

    return issue
