"""Security findings, each tried through the real server (`flask --app app serve`, gunicorn)
as the attacker tried them: ordinary accounts, HTTP, servers the attacker runs."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import requests

from roles import permissions as P
from tests.conftest import PASSWORD
from tests.delivery_servers import HOST, SECRET, USER, start_ftp
from tests.roles.oidc_provider import Provider
from tests.security_traps import Trap
from tests.serving import ROOT

from .conftest import Tenant, make_tenant

TIMEOUT = 60


class Api:
    """One user's bearer token against the live server."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.headers = base, {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method):
        def call(path, headers=None, **kwargs):
            return requests.request(method.upper(), self.base + path, timeout=TIMEOUT,
                                    headers={**self.headers, **(headers or {})}, **kwargs)
        return call


def member(live, tenant: Tenant, email: str, permissions: set[str]) -> tuple[Api, int]:
    """A user of the tenant holding a custom role with ``permissions``; their API and id."""
    admin = Api(live.url, tenant.token)
    live.cli("users", "create", "--company", tenant.slug, "--email", email, "--password",
             PASSWORD)
    role = admin.post("/api/v1/roles", json={"name": f"role-{email.split('@')[0]}",
                                             "permissions": sorted(permissions)})
    assert role.status_code == 201, role.text
    user_id = next(u["id"] for u in admin.get("/api/v1/users").json() if u["email"] == email)
    assert admin.post(f"/api/v1/users/{user_id}/roles",
                      json={"role_id": role.json()["id"]}).status_code == 200
    token = live.cli("users", "token", "--company", tenant.slug, email).strip().splitlines()[-1]
    return Api(live.url, token), user_id


# -- High 1: a stored upload password goes only where it was typed for ----------------------

@pytest.fixture
def ftp(tmp_path):
    server = start_ftp(tmp_path / "ftp")
    yield server
    server.stop()


@pytest.fixture
def traps():
    server, proxy = Trap(), Trap(proxy=True)
    yield server, proxy
    server.stop()
    proxy.stop()


def test_an_editor_cannot_steal_the_stored_ftp_password(live, ftp, traps):
    tenant = make_tenant(live, "Upload Co")
    trap, trap_proxy = traps
    server = {"transport": "ftp", "host": HOST, "port": ftp.port, "username": USER,
              "directory": "/in"}
    task = Api(live.url, tenant.token).post("/api/v1/tasks", json={
        "name": "Health check", "report_type": "native_connection_status",
        "channels": ["whatsapp"], "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": [], "server": {**server, "password": SECRET}}})
    assert task.status_code == 201, task.text
    task_id = task.json()["id"]
    editor, _ = member(live, tenant, "ed@upload-co.example", {P.VIEW_TASKS, P.EDIT_TASKS})
    same = editor.post(f"/api/v1/servers/test?task_id={task_id}", json=server)
    assert same.status_code == 200 and same.json()["ok"] is True, same.text
    for elsewhere in ({**server, "port": trap.port},
                      {**server, "proxy": {"type": "http", "host": HOST,
                                           "port": trap_proxy.port}}):
        answer = editor.post(f"/api/v1/servers/test?task_id={task_id}", json=elsewhere)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["fields"] == {"server.password": "Password is required."}
        saved = editor.patch(f"/api/v1/tasks/{task_id}",
                             json={"recipients": {"emails": [], "server": elsewhere}})
        assert saved.status_code == 422, saved.text
    assert trap.heard == [] and trap_proxy.heard == []
    kept = editor.get(f"/api/v1/tasks/{task_id}").json()["recipients"]["server"]
    assert kept["port"] == ftp.port and kept["proxy"] is None


# -- High 2 and 3: nobody grants or takes back what they don't hold --------------------------

def test_a_user_manager_cannot_make_themselves_admin_or_strip_admins(live):
    tenant = make_tenant(live, "Grant Co")
    admin = Api(live.url, tenant.token)
    mallory, _ = member(live, tenant, "mallory@grant-co.example", {P.MANAGE_USERS})
    live.cli("users", "create", "--company", tenant.slug, "--email", "second@grant-co.example",
             "--password", PASSWORD, "--role", P.ADMIN_ROLE)
    users = {u["email"]: u for u in admin.get("/api/v1/users").json()}
    second = users["second@grant-co.example"]
    admin_role = second["roles"][0]["role_id"]

    pwn = mallory.put("/api/v1/sso", json={"role_mapping": {"pwn": [P.ADMIN_ROLE]}})
    assert pwn.status_code == 422 and "do not hold" in pwn.text
    evil = mallory.put("/api/v1/sso", json={"enabled": True, "issuer": "https://idp.evil.example",
                                            "client_id": "x", "client_secret": "y"})
    assert evil.status_code == 422
    strip = mallory.delete(f"/api/v1/users/{second['id']}/roles/{admin_role}")
    assert strip.status_code == 403, strip.text
    assert mallory.delete(f"/api/v1/roles/{admin_role}").status_code == 409  # built-in
    again = {u["email"]: u for u in admin.get("/api/v1/users").json()}
    assert again["second@grant-co.example"]["roles"] == second["roles"]
    assert admin.get("/api/v1/sso").json()["role_mapping"] == {}


@pytest.fixture
def idp():
    provider = Provider().start()
    yield provider
    provider.stop()


def sso_login(live, slug: str, username: str) -> requests.Response:
    """A browser's round trip: Herald → the IdP's login form → Herald's callback."""
    browser = requests.Session()
    start = browser.get(f"{live.url}/sso/{slug}/login", allow_redirects=False, timeout=TIMEOUT)
    assert start.status_code == 302, start.text
    authorize = start.headers["Location"]
    answer = requests.post(authorize, data={"username": username, "password": "idp-pass"},
                           allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["Location"])
    return browser.get(f"{live.url}{callback.path}?{callback.query}", allow_redirects=False,
                       timeout=TIMEOUT)


def test_an_sso_login_never_rebinds_a_bound_user(live, idp):
    tenant = make_tenant(live, "Bound Co")
    idp.add_client("herald", "client-secret-1",
                   f"{live.url}/sso/{tenant.slug}/callback")
    idp.add_user("boss", "idp-pass", email=tenant.admin_email, email_verified=True)
    idp.add_user("impostor", "idp-pass", email=tenant.admin_email, email_verified=True)
    admin = Api(live.url, tenant.token)
    assert admin.put("/api/v1/sso", json={
        "enabled": True, "issuer": idp.issuer, "client_id": "herald",
        "client_secret": "client-secret-1"}).status_code == 200
    assert sso_login(live, tenant.slug, "boss").status_code == 302
    refused = sso_login(live, tenant.slug, "impostor")
    assert refused.status_code == 403
    assert "linked to another sign-in identity" in refused.text


# -- High 4: ingestion never rewrites a portal user -------------------------------------------

def test_ingestion_cannot_turn_the_admin_into_a_group(live, tmp_path):
    """Through `flask data import` in the server's environment (the API's streaming under
    gunicorn is fixed on another branch; the service is the same)."""
    tenant = make_tenant(live, "Ingest Co")
    email = tenant.admin_email
    source = tmp_path / "users.ndjson"
    source.write_text(f'{{"id": "x1", "email": "{email}", "is_group": true}}\n'
                      f'{{"id": "x1", "email": "{email}", "name": "Boss"}}\n'
                      '{"id": "x1", "email": "evil@elsewhere.example"}\n')
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "data", "import",
                           "--company", tenant.slug, "users", str(source)], env=live.env,
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr  # something was rejected
    assert done.stdout.strip() == "0 created, 1 updated, 2 rejected"
    assert done.stderr.splitlines() == [
        f"line 1: rejected (would make portal user {email} a group email; change it in the "
        "portal instead)",
        f"line 3: rejected (would change the login email of portal user {email} to "
        "evil@elsewhere.example; change it in the portal instead)"]
    admin = Api(live.url, tenant.token)
    me = next(u for u in admin.get("/api/v1/users").json() if u["email"] == email)
    assert me["is_group"] is False and me["name"] == "Boss"
    assert [r["role"] for r in me["roles"]] == [P.ADMIN_ROLE]


# -- the audit trail ---------------------------------------------------------------------------

def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def portal_login(live, email: str, password: str = PASSWORD) -> requests.Response:
    """A browser's password login; the answer (its session is ``answer.browser``)."""
    browser = requests.Session()
    token = csrf_of(browser.get(f"{live.url}/login", timeout=TIMEOUT).text)
    answer = browser.post(f"{live.url}/login", timeout=TIMEOUT, allow_redirects=False,
                          data={"email": email, "password": password, "csrf_token": token})
    answer.browser = browser
    return answer


def test_the_audit_trail_records_and_lists_what_happened(live):
    tenant = make_tenant(live, "Audit Co")
    admin = Api(live.url, tenant.token)
    assert portal_login(live, tenant.admin_email, "not the password").status_code == 200
    browser = portal_login(live, tenant.admin_email).browser
    task = admin.post("/api/v1/tasks", json={
        "name": "=HYPERLINK(1)", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": ["ops@audit-co.example"]}}).json()
    assert admin.delete(f"/api/v1/tasks/{task['id']}").status_code == 204
    events = admin.get("/api/v1/audit").json()["events"]
    assert [(e["action"], e["actor"]) for e in events] == [
        ("task.delete", tenant.admin_email), ("task.create", tenant.admin_email),
        ("login.success", tenant.admin_email), ("login.failure", tenant.admin_email),
        ("token.create", "system")]
    assert events[0]["target_name"] == "=HYPERLINK(1)" and events[0]["ip"] == "127.0.0.1"
    only = admin.get("/api/v1/audit", params={"action": "login"}).json()["events"]
    assert [e["action"] for e in only] == ["login.success", "login.failure"]
    page = browser.get(f"{live.url}/admin/audit", params={"action": "task"}, timeout=TIMEOUT)
    assert page.status_code == 200 and "task.delete" in page.text and "login.failure" not in \
        page.text.split('<table class="list" id="audit">')[1]
    exported = browser.get(f"{live.url}/admin/audit.csv", timeout=TIMEOUT)
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert len(rows) == 6 and rows[1][3] == "task.delete" and rows[1][7] == "'=HYPERLINK(1)"


# -- login throttling, headers, htmx under the CSP ---------------------------------------------

def test_five_failures_lock_an_account_for_everyone(live):
    tenant = make_tenant(live, "Throttle Co")
    for _ in range(5):
        assert portal_login(live, tenant.admin_email, "wrong password").status_code == 200
    locked = portal_login(live, tenant.admin_email)  # the right password, another browser
    assert locked.status_code == 429, locked.text[:300]
    assert int(locked.headers["Retry-After"]) > 0
    assert "Too many failed logins for this account" in locked.text
    other = make_tenant(live, "Throttle Two")
    assert portal_login(live, other.admin_email).status_code == 302


def test_twenty_attempts_a_minute_per_address(tmp_path, live):
    """On a server of its own: the address limit would also hold back the other tests."""
    from tests.serving import Served

    env = {k: v for k, v in live.env.items() if k != "LOGIN_ADDRESS_LIMIT"}  # the default
    served = Served(env, tmp_path / "serve.log")
    try:
        served.wait_for_login_page()
        own = type(live)(served, env, f"http://127.0.0.1:{served.port}", live.database_url)
        answers = [portal_login(own, f"nobody{n}@nowhere.example", "x").status_code
                   for n in range(21)]
        assert answers == [200] * 20 + [429]
    finally:
        served.stop()


def test_security_headers_as_served(live, capsys):
    tenant = make_tenant(live, "Header Co")
    login = requests.get(f"{live.url}/login", timeout=TIMEOUT)
    browser = portal_login(live, tenant.admin_email).browser
    admin = Api(live.url, tenant.token)
    task = admin.post("/api/v1/tasks", json={
        "name": "Rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": ["ops@header-co.example"]}})
    page = browser.get(f"{live.url}/tasks/{task.json()['id']}", timeout=TIMEOUT)
    api = admin.get("/api/v1/tasks")
    for answer in (login, page, api):
        headers = answer.headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store" == api.headers["Cache-Control"]
    with capsys.disabled():  # for the record: the headers as served
        for name, answer in (("/login", login), ("/tasks/N", page), ("/api/v1/tasks", api)):
            print(f"\n{name} {answer.status_code}")
            for key, value in answer.headers.items():
                print(f"  {key}: {value}")


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
