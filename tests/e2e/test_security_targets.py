"""Issue 15, Medium 7 and 8 through the real server: "Test connection" cannot stall the web
tier, and server targets on loopback or private addresses are refused unless
ALLOW_PRIVATE_TARGETS is set (the session's server sets it; one test runs a server without)."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from jobs.delivery.targets import is_public
from roles import permissions as P
from tests.roles.oidc_provider import Provider
from tests.security_traps import Silent, Trap
from tests.serving import Served

from .conftest import make_tenant
from .test_security import Api, csrf_of, member

SILENT_SERVER = {"transport": "ftp", "host": "127.0.0.1", "username": "u", "password": "p",
                 "directory": "/in"}


@pytest.fixture
def silent():
    server = Silent()
    yield server
    server.stop()


def test_connection_tests_against_a_silent_server_do_not_stall_the_web_tier(live, silent):
    tenant = make_tenant(live, "Stall Co")
    editor, _ = member(live, tenant, "ed@stall-co.example", {P.VIEW_TASKS, P.EDIT_TASKS})
    server = {**SILENT_SERVER, "port": silent.port}
    health: list[float] = []

    def probe_health() -> None:
        time.sleep(2)  # the tests have started and are waiting on the silent server
        for _ in range(3):
            started = time.monotonic()
            assert requests.get(f"{live.url}/healthz", timeout=60).status_code == 200
            health.append(time.monotonic() - started)

    started = time.monotonic()
    with ThreadPoolExecutor(11) as pool:
        probe = pool.submit(probe_health)
        answers = list(pool.map(lambda _: editor.post("/api/v1/servers/test", json=server),
                                range(10)))
        probe.result()
    took = time.monotonic() - started
    codes = sorted(a.status_code for a in answers)
    # Two tests at a time per web process: the others are refused at once, never queued.
    assert 200 in codes and 429 in codes, codes
    for answer in answers:
        if answer.status_code == 429:
            assert int(answer.headers["Retry-After"]) > 0
            assert answer.json()["error"]["code"] == "too_many_requests"
        else:
            assert answer.json()["ok"] is False
            assert "given up" in answer.json()["message"] or "timed out" in \
                answer.json()["message"], answer.text
    assert took < 30, took  # CONNECTION_TEST_TIMEOUT (10 s) and a margin for a loaded machine
    assert max(health) < 3, health  # the web tier kept answering meanwhile
    # Ten tests counted against the user's limit (10 a minute): the eleventh is refused.
    again = editor.post("/api/v1/servers/test", json=server)
    assert again.status_code == 429 and "Too many connection tests" in again.text
    # Another user is not held back by this one.
    other, _ = member(live, tenant, "ed2@stall-co.example", {P.VIEW_TASKS, P.EDIT_TASKS})
    assert other.post("/api/v1/servers/test", json={**server, "port": 1}).status_code == 200


@pytest.fixture(scope="module")
def strict(live, tmp_path_factory):
    """A second server on the session's database without ALLOW_PRIVATE_TARGETS, behind one
    (pretended) reverse proxy, with the default login limit."""
    env = {k: v for k, v in live.env.items()
           if k not in ("ALLOW_PRIVATE_TARGETS", "LOGIN_ADDRESS_LIMIT")}  # both the defaults
    env["TRUSTED_PROXIES"] = "1"
    served = Served(env, tmp_path_factory.mktemp("strict") / "serve.log")
    try:
        served.wait_for_login_page()
        yield type(live)(served, env, f"http://127.0.0.1:{served.port}", live.database_url)
    finally:
        served.stop()


@pytest.fixture
def trap():
    server = Trap()
    yield server
    server.stop()


PRIVATE = ["127.0.0.1", "10.1.2.3", "192.168.0.10", "169.254.169.254", "0:0:0:0:0:0:0:1",
           "localhost", "224.0.0.1", "0.0.0.0"]  # noqa: S104 - an address a user types, not one we bind


def test_private_targets_are_refused_without_allow_private_targets(strict, trap):
    tenant = make_tenant(strict, "Private Co")
    admin = Api(strict.url, tenant.token)
    for host in PRIVATE:
        answer = admin.post("/api/v1/servers/test", json={**SILENT_SERVER, "host": host,
                                                           "port": trap.port})
        assert answer.status_code == 422, (host, answer.text)
        assert "ALLOW_PRIVATE_TARGETS" in answer.json()["error"]["fields"]["server.host"]
    # A name that resolves to a private address (this machine's own name): refused when it is
    # resolved, the same for any port, so closed, silent and talking servers look alike.
    name = socket.gethostname()
    if not is_public(socket.gethostbyname(name)):
        messages = set()
        for port in (trap.port, 1):
            answer = admin.post("/api/v1/servers/test", json={
                **SILENT_SERVER, "host": name, "port": port})
            assert answer.status_code == 200 and answer.json()["ok"] is False, answer.text
            messages.add(answer.json()["message"])
        assert len(messages) == 1 and "ALLOW_PRIVATE_TARGETS" in messages.pop()
    # Through a proxy: the proxy's address is checked too.
    via_proxy = admin.post("/api/v1/servers/test", json={
        **SILENT_SERVER, "host": "ftp.example.com", "port": 21,
        "proxy": {"type": "http", "host": "127.0.0.1", "port": trap.port}})
    assert via_proxy.status_code == 422
    assert "ALLOW_PRIVATE_TARGETS" in via_proxy.json()["error"]["fields"]["server.proxy.host"]
    saved = admin.post("/api/v1/tasks", json={
        "name": "Upload", "report_type": "native_connection_status", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": [], "server": {**SILENT_SERVER, "host": "10.0.0.5"}}})
    assert saved.status_code == 422
    assert "ALLOW_PRIVATE_TARGETS" in saved.json()["error"]["fields"]["recipients.server.host"]
    sso = admin.put("/api/v1/sso", json={"issuer": "https://169.254.169.254"})
    assert sso.status_code == 422 and "ALLOW_PRIVATE_TARGETS" in sso.text
    assert trap.heard == []


def test_sso_login_to_a_private_issuer_is_refused_without_contacting_it(live, strict):
    """The real SSO login uses "Test sign-in"'s guard: the issuer, saved on the session's
    server (which allows loopback), is not fetched by the strict one; the login page says why
    and the refusal is audited."""
    tenant = make_tenant(live, "Private Sso Co")
    provider = Provider().start()
    try:
        saved = Api(live.url, tenant.token).put("/api/v1/sso", json={
            "enabled": True, "issuer": provider.issuer, "client_id": "herald",
            "client_secret": "idp-secret"})
        assert saved.status_code == 200, saved.text
        browser = requests.Session()
        answer = browser.get(f"{strict.url}/sso/{tenant.slug}/login", timeout=60)
        assert answer.status_code == 200 and answer.url.endswith(
            f"/login?company={tenant.slug}"), (answer.status_code, answer.url)
        assert "Single sign-on of Private Sso Co is not available" in answer.text
        assert "127.0.0.1 is a loopback" in answer.text
        assert provider.heard == []
        assert browser.get(f"{live.url}/sso/{tenant.slug}/login", timeout=60,
                           allow_redirects=False).status_code == 302  # allowed there
        assert provider.heard == ["/.well-known/openid-configuration"]
    finally:
        provider.stop()
    events = Api(strict.url, tenant.token).get(
        "/api/v1/audit", params={"action": "login.failure"}).json()["events"]
    assert len(events) == 1 and events[0]["result"] == "refused"
    assert "ALLOW_PRIVATE_TARGETS" in events[0]["details"]["reason"]


def test_the_session_server_allows_private_targets(live, trap):
    """ALLOW_PRIVATE_TARGETS=1 (tests, local demos): the loopback trap is reached."""
    tenant = make_tenant(live, "Loopback Co")
    answer = Api(live.url, tenant.token).post("/api/v1/servers/test", json={
        **SILENT_SERVER, "port": trap.port})
    assert answer.status_code == 200, answer.text
    assert "USER u" in trap.heard  # reached (it then refuses the directory)


def test_behind_a_trusted_proxy_the_login_throttle_is_per_client(strict):
    """TRUSTED_PROXIES=1: the address limit (20 a minute) counts X-Forwarded-For's client,
    not the proxy every request comes through; the audit trail records the client too."""
    def attempt(n: int, client: str) -> int:
        browser = requests.Session()
        headers = {"X-Forwarded-For": client}
        page = browser.get(f"{strict.url}/login", headers=headers, timeout=60).text
        return browser.post(f"{strict.url}/login", headers=headers, timeout=60, data={
            "email": f"nobody{n}@nowhere.example", "password": "x",
            "csrf_token": csrf_of(page)}).status_code

    assert [attempt(n, "203.0.113.7") for n in range(21)] == [200] * 20 + [429]
    assert attempt(99, "203.0.113.8") == 200  # another client behind the same proxy
    tenant = make_tenant(strict, "Proxy Co")
    browser = requests.Session()
    headers = {"X-Forwarded-For": "198.51.100.4"}
    page = browser.get(f"{strict.url}/login", headers=headers, timeout=60).text
    browser.post(f"{strict.url}/login", headers=headers, timeout=60, data={
        "email": tenant.admin_email, "password": tenant.password, "csrf_token": csrf_of(page)})
    events = Api(strict.url, tenant.token).get("/api/v1/audit",
                                               params={"action": "login"}).json()["events"]
    assert events[0]["ip"] == "198.51.100.4"
