"""A web process (as the Procfile starts it) whose Redis goes away: logging in keeps working
and stays limited, each process counting the attempts in its own memory until Redis is back.
Redis holds the login limits' counters; without a fallback every login answered 500."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
from cryptography.fernet import Fernet

from jobs.embedded_redis import EmbeddedRedis, free_port
from tests.conftest import PASSWORD
from tests.serving import ROOT, clean_environ

from .cluster import Cluster
from .conftest import fresh_database
from .test_security import csrf_of

ADMIN = "admin@redis-down.example"


def _flask(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def web(tmp_path):
    redis_server = EmbeddedRedis(tmp_path / "redis", port=free_port()).start()
    env = clean_environ(
        DATABASE_URL=fresh_database(tmp_path, "redisdown"), REDIS_URL=redis_server.url,
        SECRET_KEY="redis-down-secret-key-0123456789abcdef",
        HERALD_ENCRYPTION_KEY=Fernet.generate_key().decode(), WEB_CONCURRENCY="1")
    _flask(env, "db", "upgrade")
    slug = _flask(env, "companies", "create", "Redis Down Bank", "--timezone", "Europe/London",
                  "--admin-email", ADMIN, "--admin-password", PASSWORD)
    cluster = Cluster(tmp_path, env, redis_server)
    try:
        proc = cluster.start("web", 1)
        cluster.wait("the web process", lambda: _answers(f"{proc.url}/healthz"), timeout=60)
        yield proc, slug, redis_server
    finally:
        cluster.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def _log_in(url: str, slug: str, password: str) -> requests.Response:
    browser = requests.Session()
    page = browser.get(f"{url}/login", timeout=30)
    token = csrf_of(page.text)
    return browser.post(f"{url}/login", timeout=30, allow_redirects=False, data={
        "csrf_token": token, "email": ADMIN, "company": slug, "password": password})


def test_logging_in_keeps_working_and_limited_while_redis_is_down(web):
    proc, slug, redis_server = web
    assert _log_in(proc.url, slug, PASSWORD).status_code == 302
    redis_server.stop()
    answer = _log_in(proc.url, slug, PASSWORD)
    assert answer.status_code == 302 and not answer.headers["Location"].startswith("/login"), \
        answer.text[:2000]
    # Still limited: the account's failures (5 per 15 minutes), counted in the process's
    # memory.
    failures = [_log_in(proc.url, slug, "wrong-password-1").status_code for _ in range(6)]
    assert failures == [200] * 5 + [429], failures
    log = proc.log(10**7)
    assert "falling back to in-memory storage" in log
    assert "Exception on /" not in log, log[-4000:]
