"""Upload-server settings through the API and the portal: validation, Test connection with the
SFTP key fingerprint, pinning on save, write-only passwords, secrets encrypted at rest and
absent from every answer, page and log line, and key rotation."""

from __future__ import annotations

import logging
import re

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from webapp.extensions import db
from webapp.models import SsoSettings, Task

from ..conftest import csrf_token
from ..delivery_servers import HOST, SECRET, USER, start_proxy

PROXY_SECRET = "pr0xy-Secret-Value"


def task_body(server, **override) -> dict:
    body = {"name": "Health check", "report_type": "native_connection_status",
            "channels": ["whatsapp"], "schedule": {"kind": "daily", "time": "06:30"},
            "recipients": {"emails": [], "server": server}}
    body.update(override)
    return body


def sftp_settings(sftp_server, **override) -> dict:
    server = {"transport": "sftp", "host": HOST, "port": sftp_server.port, "username": USER,
              "password": SECRET, "directory": "/in",
              "host_key_fingerprint": sftp_server.fingerprint}
    server.update(override)
    return server


def stored_column(task_id: int) -> str:
    """The raw text of the tasks.server column, as the database holds it."""
    return db.session.execute(sa.text("SELECT CAST(server AS TEXT) FROM tasks WHERE id = :id"),
                              {"id": task_id}).scalar_one()


@pytest.fixture
def admin(app, make_company, api_token, server_report_type):
    company = make_company()
    return company, api_token(company)


def test_create_with_sftp_server_secrets_write_only_and_encrypted(client, admin, sftp_server):
    company, headers = admin
    server = sftp_settings(sftp_server, proxy={"type": "socks5", "host": HOST, "port": 1080,
                                               "username": "px", "password": PROXY_SECRET})
    response = client.post("/api/v1/tasks", headers=headers, json=task_body(server))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["recipients"]["server"] == {
        "transport": "sftp", "host": HOST, "port": sftp_server.port, "username": USER,
        "directory": "/in", "host_key_fingerprint": sftp_server.fingerprint,
        "proxy": {"type": "socks5", "host": HOST, "port": 1080, "username": "px"}}
    raw = response.get_data(as_text=True)
    assert SECRET not in raw and PROXY_SECRET not in raw
    for path in (f"/api/v1/tasks/{body['id']}", "/api/v1/tasks"):
        text = client.get(path, headers=headers).get_data(as_text=True)
        assert SECRET not in text and PROXY_SECRET not in text and "fernet:" not in text
    column = stored_column(body["id"])
    assert isinstance(column, str) and USER in column
    assert SECRET not in column and PROXY_SECRET not in column
    assert column.count('"fernet:') == 2


def test_edit_without_password_keeps_it_and_retyping_replaces_it(client, admin, sftp_server):
    from webapp import crypto

    company, headers = admin
    task_id = client.post("/api/v1/tasks", headers=headers,
                          json=task_body(sftp_settings(sftp_server))).get_json()["id"]
    before = stored_column(task_id)
    # The server object comes back without its password, as a client would send it back.
    server = client.get(f"/api/v1/tasks/{task_id}", headers=headers).get_json()[
        "recipients"]["server"]
    response = client.patch(f"/api/v1/tasks/{task_id}", headers=headers,
                            json={"recipients": {"emails": [], "server": {
                                **server, "directory": "/out"}}})
    assert response.status_code == 200, response.get_json()
    db.session.expire_all()
    task = db.session.get(Task, task_id)
    assert task.server["directory"] == "/out"
    assert crypto.decrypt(task.server["password"]) == SECRET
    # An edit that does not mention the server keeps it whole.
    response = client.patch(f"/api/v1/tasks/{task_id}", headers=headers, json={"name": "HC"})
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Task, task_id).server["password"] == \
        db.session.get(Task, task_id).server["password"]
    assert stored_column(task_id) != before  # the directory changed
    response = client.patch(f"/api/v1/tasks/{task_id}", headers=headers,
                            json={"recipients": {"emails": [], "server": {
                                **server, "password": "a-new-one-123"}}})
    assert response.status_code == 200
    db.session.expire_all()
    assert crypto.decrypt(db.session.get(Task, task_id).server["password"]) == "a-new-one-123"
    # Another host or user does not inherit the stored password.
    response = client.patch(f"/api/v1/tasks/{task_id}", headers=headers,
                            json={"recipients": {"emails": [], "server": {
                                **server, "host": "files.acme.example"}}})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        "recipients.server.password": "Password is required."}
    # null removes the server.
    response = client.patch(f"/api/v1/tasks/{task_id}", headers=headers,
                            json={"recipients": {"emails": ["ops@acme.example"],
                                                 "server": None}})
    assert response.status_code == 200
    assert response.get_json()["recipients"]["server"] is None


@pytest.mark.parametrize("server, fields", [
    ({"transport": "scp", "host": HOST, "username": "u", "password": "p", "directory": "/"},
     {"recipients.server.transport": "Transport must be one of sftp, ftp, ftps."}),
    ({"transport": {"sftp": 1}, "host": HOST, "username": "u", "password": "p",
      "directory": "/"},  # not a string (was a 500: schemathesis)
     {"recipients.server.transport": "Transport must be one of sftp, ftp, ftps."}),
    ({"transport": "ftp", "host": "ftp://x/y", "port": 70000, "username": "u",
      "password": "p", "directory": "/"},
     {"recipients.server.host": "Host must be a host name or an IP address (no scheme, "
                                "no path).",
      "recipients.server.port": "Port must be a whole number from 1 to 65535."}),
    ({"transport": "ftp", "host": HOST, "directory": "/"},
     {"recipients.server.username": "Username is required.",
      "recipients.server.password": "Password is required."}),
    ({"transport": "sftp", "host": HOST, "username": "u", "password": "p", "directory": "/"},
     {"recipients.server.host_key_fingerprint": "Test the connection and confirm the server's "
      "host key (SHA256:…) before saving: SFTP deliveries only go to the key you trust."}),
    ({"transport": "sftp", "host": HOST, "username": "u", "password": "p", "directory": "/",
      "host_key_fingerprint": "MD5:aa:bb"},
     {"recipients.server.host_key_fingerprint": "Host key fingerprint must look like SHA256: "
      "followed by 43 characters, as Test connection shows it."}),
    ({"transport": "ftp", "host": HOST, "username": "u", "password": "p", "directory": "/",
      "proxy": {"type": "socks4", "host": HOST, "password": "x"}},
     {"recipients.server.proxy.type": "Proxy type must be socks5 or http (HTTP CONNECT).",
      "recipients.server.proxy.username": "A proxy password needs a proxy username."}),
])
def test_invalid_server_settings_name_the_field(client, admin, server, fields):
    company, headers = admin
    response = client.post("/api/v1/tasks", headers=headers, json=task_body(server))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == fields


def test_server_refused_for_other_report_types(client, admin, sftp_server):
    company, headers = admin
    response = client.post("/api/v1/tasks", headers=headers, json=task_body(
        sftp_settings(sftp_server), report_type="usage_by_rooms"))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"recipients.server": (
        "Server upload is only available for the Native channel connection status report; "
        "use email recipients for this report type.")}


def test_test_connection_api(client, admin, sftp_server, ftp_server, caplog):
    company, headers = admin
    caplog.set_level(logging.DEBUG)
    unpinned = sftp_settings(sftp_server, host_key_fingerprint=None)
    response = client.post("/api/v1/servers/test", headers=headers, json=unpinned)
    assert response.status_code == 200
    assert response.get_json() == {
        "ok": True, "host_key_fingerprint": sftp_server.fingerprint,
        "message": f"Connected to {HOST}:{sftp_server.port} as '{USER}'; '/in' is reachable."}

    wrong = client.post("/api/v1/servers/test", headers=headers,
                        json={**unpinned, "password": "Wrong-Pa55word"}).get_json()
    assert wrong == {"ok": False, "host_key_fingerprint": sftp_server.fingerprint,
                     "message": f"Authentication as '{USER}' on {HOST}:{sftp_server.port} "
                                "failed: wrong username or password"}

    changed = client.post("/api/v1/servers/test", headers=headers, json={
        **unpinned, "host_key_fingerprint": "SHA256:" + "A" * 43}).get_json()
    assert changed["ok"] is False and changed["message"].startswith("Host key changed")
    assert changed["host_key_fingerprint"] == sftp_server.fingerprint

    ftp = client.post("/api/v1/servers/test", headers=headers, json={
        "transport": "ftp", "host": HOST, "port": ftp_server.port, "username": USER,
        "password": SECRET, "directory": "/missing"}).get_json()
    assert ftp == {"ok": False, "host_key_fingerprint": None,
                   "message": "Remote directory '/missing': 550 No such file or directory."}

    invalid = client.post("/api/v1/servers/test", headers=headers, json={"transport": "ftp"})
    assert invalid.status_code == 422
    assert set(invalid.get_json()["error"]["fields"]) == {
        "server.host", "server.username", "server.password", "server.directory"}
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_test_connection_uses_the_stored_password_of_the_task(client, admin, sftp_server,
                                                              make_company, api_token):
    company, headers = admin
    task_id = client.post("/api/v1/tasks", headers=headers,
                          json=task_body(sftp_settings(sftp_server))).get_json()["id"]
    without_password = {k: v for k, v in sftp_settings(sftp_server).items() if k != "password"}
    answer = client.post(f"/api/v1/servers/test?task_id={task_id}", headers=headers,
                         json=without_password).get_json()
    assert answer["ok"] is True, answer
    # Another company's task id is a 404, as for every foreign id.
    other = api_token(make_company("Other Bank"))
    response = client.post(f"/api/v1/servers/test?task_id={task_id}", headers=other,
                           json=without_password)
    assert response.status_code == 404


def test_test_connection_through_proxy(client, admin, sftp_server):
    company, headers = admin
    proxy = start_proxy("http", "px", PROXY_SECRET)
    try:
        answer = client.post("/api/v1/servers/test", headers=headers, json=sftp_settings(
            sftp_server, proxy=proxy.settings(username="px", password="bad-proxy-pw"))).get_json()
    finally:
        proxy.stop()
    assert answer == {"ok": False, "host_key_fingerprint": None, "message": (
        f"HTTP CONNECT proxy {HOST}:{proxy.port} refused the connection to "
        f"{HOST}:{sftp_server.port}: 407 Proxy Authentication Required")}


def test_portal_form_tests_pins_and_keeps_password(app, client, auth, admin, sftp_server,
                                                   caplog):
    company, _ = admin
    caplog.set_level(logging.DEBUG)
    assert auth.login(f"admin@{company.slug}.example").status_code == 302
    token = csrf_token(client, "/tasks/new")
    form = {"csrf_token": token, "step": "2", "name": "Health check",
            "report_type": "native_connection_status", "channels": "whatsapp",
            "schedule_kind": "daily", "schedule_time": "06:30", "timezone": "Europe/London",
            "inactivity_days": "14", "active": "1", "emails": "",
            "server_transport": "sftp", "server_host": HOST,
            "server_port": str(sftp_server.port), "server_username": USER,
            "server_password": SECRET, "server_directory": "/in"}
    # Step 2 shows the server fieldset for this type.
    page = client.post("/tasks/new", data={**form, "step": "1", "action": "next"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'name="server_transport"' in text and SECRET not in text
    # Test connection with htmx: only the server fieldset, with the key to trust.
    response = client.post("/tasks/new", data={**form, "action": "test_connection"},
                           headers={"HX-Request": "true"})
    block = response.get_data(as_text=True)
    assert response.status_code == 200
    assert block.lstrip().startswith('<fieldset id="server"')
    assert "Connection works" in block and sftp_server.fingerprint in block
    assert "Saving the task pins this key" in block and SECRET not in block
    # Saving without the fingerprint is refused; with it, the key is pinned.
    response = client.post("/tasks/new", data={**form, "action": "save"})
    assert response.status_code == 422
    assert "Test the connection and confirm" in response.get_data(as_text=True)
    response = client.post("/tasks/new", data={
        **form, "action": "save", "server_host_key_fingerprint": sftp_server.fingerprint})
    assert response.status_code == 302, response.get_data(as_text=True)
    task = db.session.scalar(sa.select(Task).where(Task.company_id == company.id))
    assert task.server["host_key_fingerprint"] == sftp_server.fingerprint
    stored_password = task.server["password"]
    # The edit form never shows the password, and saving it untouched keeps it.
    edit = client.get(f"/tasks/{task.id}/edit").get_data(as_text=True)
    assert SECRET not in edit and stored_password not in edit
    edit_form = dict(form, server_password="",
                     server_host_key_fingerprint=sftp_server.fingerprint, name="Renamed")
    response = client.post(f"/tasks/{task.id}/edit", data={**edit_form, "action": "save"})
    assert response.status_code == 302
    db.session.expire_all()
    task = db.session.get(Task, task.id)
    assert task.name == "Renamed" and task.server["password"] == stored_password
    show = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert sftp_server.fingerprint in show and SECRET not in show
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_secrets_rotate_re_encrypts_under_the_new_key(app, client, admin, sftp_server, runner):
    from webapp import crypto

    company, headers = admin
    server = sftp_settings(sftp_server, proxy={"type": "http", "host": HOST, "port": 3128,
                                               "username": "px", "password": PROXY_SECRET})
    task_id = client.post("/api/v1/tasks", headers=headers,
                          json=task_body(server)).get_json()["id"]
    sso = client.put("/api/v1/sso", headers=headers, json={
        "issuer": "https://login.example.com/realms/acme", "client_id": "herald",
        "client_secret": "sso-secret"})
    assert sso.status_code == 200, sso.get_data(as_text=True)
    before = stored_column(task_id)
    sso_before = db.session.scalar(sa.select(SsoSettings.client_secret))
    old_key = app.config["HERALD_ENCRYPTION_KEY"]
    new_key = Fernet.generate_key().decode()
    app.config["HERALD_ENCRYPTION_KEY"] = f"{new_key},{old_key}"
    result = runner.invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 1 tasks.server value(s)" in result.output
    assert "Re-encrypted 1 sso_settings.client_secret value(s)" in result.output
    app.config["HERALD_ENCRYPTION_KEY"] = new_key  # the old key is gone
    db.session.expire_all()
    assert stored_column(task_id) != before
    stored = db.session.get(Task, task_id).server
    assert crypto.decrypt(stored["password"]) == SECRET
    assert crypto.decrypt(stored["proxy"]["password"]) == PROXY_SECRET
    sso_after = db.session.scalar(sa.select(SsoSettings.client_secret))
    assert sso_after != sso_before and crypto.decrypt(sso_after) == "sso-secret"
    app.config["HERALD_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    result = runner.invoke(args=["secrets", "rotate"])
    assert result.exit_code == 1
    assert re.search(r"(tasks|sso_settings) \d+: its (server|client_secret) cannot be "
                     r"decrypted", result.output)


def test_openapi_documents_the_connection_test(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/servers/test" in spec["paths"]
    assert "password" not in spec["components"]["schemas"]["ConnectionTest"]["properties"]


def test_failed_upload_is_visible_and_the_csv_still_downloads(app, client, auth, admin,
                                                              work, caplog):
    from jobs.embedded_redis import free_port

    company, headers = admin
    admin_email = f"admin@{company.slug}.example"
    caplog.set_level(logging.DEBUG)
    port = free_port()  # no server there
    task = client.post("/api/v1/tasks", headers=headers, json=task_body({
        "transport": "ftp", "host": HOST, "port": port, "username": USER, "password": SECRET,
        "directory": "/in"})).get_json()
    run = client.post(f"/api/v1/tasks/{task['id']}/runs", headers=headers).get_json()
    work()
    run = client.get(f"/api/v1/runs/{run['id']}", headers=headers).get_json()
    assert run["status"] == "failed"
    [delivery] = run["deliveries"]
    assert delivery["kind"] == "server" and delivery["status"] == "failed"
    assert delivery["target"] == f"ftp://{USER}@{HOST}:{port}/in"
    assert delivery["attempts"] == 1 and delivery["next_attempt_at"]
    assert delivery["error"] == f"Could not connect to {HOST}:{port}: Connection refused"
    task = client.get(f"/api/v1/tasks/{task['id']}", headers=headers).get_json()
    assert task["last_run"]["status"] == "failed" and task["status"] == "scheduled"
    csv = client.get(f"/api/v1/runs/{run['id']}/csv", headers=headers)
    assert csv.status_code == 200 and csv.get_data().startswith(b"company,")
    csv.close()
    auth.login(admin_email)
    page = client.get(f"/runs/{run['id']}").get_data(as_text=True)
    assert "Connection refused" in page and "Next attempt" in page and SECRET not in page
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_form_offers_the_server_only_for_uploadable_types(client, auth, admin):
    company, _ = admin
    auth.login(f"admin@{company.slug}.example")
    token = csrf_token(client, "/tasks/new")
    form = {"csrf_token": token, "step": "1", "action": "next", "name": "Rooms",
            "channels": "whatsapp", "schedule_kind": "daily", "schedule_time": "06:30",
            "timezone": "Europe/London", "inactivity_days": "14", "active": "1",
            "emails": ""}
    rooms = client.post("/tasks/new", data={**form, "report_type": "usage_by_rooms"})
    health = client.post("/tasks/new", data={**form,
                                             "report_type": "native_connection_status"})
    assert rooms.status_code == health.status_code == 200
    assert '<fieldset id="server"' not in rooms.get_data(as_text=True)
    page = health.get_data(as_text=True)
    assert '<select name="server_transport"' in page and "Test connection" not in page
    # A transport chosen: its settings, "Test connection"; the host key only for SFTP.
    for transport in ("sftp", "ftp"):
        page = client.post("/tasks/new", data={
            **form, "report_type": "native_connection_status", "step": "2",
            "action": "server_fields", "server_transport": transport}).get_data(as_text=True)
        assert 'name="proxy_type"' in page and 'type="password" name="server_password"' in page
        assert "Test connection" in page
        assert ("Trusted host key" in page) is (transport == "sftp")
