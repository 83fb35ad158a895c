"""A stored upload password goes only to the endpoint it was typed for: transport, host, port,
username, pinned key and proxy (type, host, port, username). Anything else needs it typed
again, for "Test connection" and for saving alike; a trap server records what reached it."""

from __future__ import annotations

import pytest

from webapp import crypto
from webapp.extensions import db
from webapp.models import Task

from ..delivery_servers import HOST, SECRET, USER
from ..security_traps import Trap

PASSWORD_REQUIRED = {"server.password": "Password is required."}


@pytest.fixture
def trap():
    server = Trap()
    yield server
    server.stop()


@pytest.fixture
def trap_proxy():
    server = Trap(proxy=True)
    yield server
    server.stop()


@pytest.fixture
def ftp_task(client, make_company, api_token, ftp_server, server_report_type):
    company = make_company()
    headers = api_token(company)
    server = {"transport": "ftp", "host": HOST, "port": ftp_server.port, "username": USER,
              "password": SECRET, "directory": "/in"}
    response = client.post("/api/v1/tasks", headers=headers, json={
        "name": "Health check", "report_type": "native_connection_status",
        "channels": ["whatsapp"], "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": [], "server": server}})
    assert response.status_code == 201, response.get_json()
    stored = {k: v for k, v in server.items() if k != "password"}
    return response.get_json()["id"], headers, stored


def test_the_same_endpoint_reuses_the_stored_password(client, ftp_task):
    task_id, headers, server = ftp_task
    answer = client.post(f"/api/v1/servers/test?task_id={task_id}", headers=headers,
                         json=server)
    assert answer.status_code == 200 and answer.get_json()["ok"] is True, answer.get_json()


@pytest.mark.parametrize("change", ["port", "proxy", "transport"])
def test_test_connection_elsewhere_needs_the_password_typed(client, ftp_task, trap,
                                                             trap_proxy, change):
    task_id, headers, server = ftp_task
    elsewhere = {"port": {**server, "port": trap.port},
                 "proxy": {**server, "proxy": {"type": "http", "host": HOST,
                                               "port": trap_proxy.port}},
                 "transport": {**server, "transport": "ftps"}}[change]
    answer = client.post(f"/api/v1/servers/test?task_id={task_id}", headers=headers,
                         json=elsewhere)
    assert answer.status_code == 422
    assert answer.get_json()["error"]["fields"] == PASSWORD_REQUIRED
    assert trap.heard == [] and trap_proxy.heard == []


@pytest.mark.parametrize("change", ["port", "proxy", "username"])
def test_saving_elsewhere_needs_the_password_typed(client, ftp_task, trap, change):
    task_id, headers, server = ftp_task
    elsewhere = {"port": {**server, "port": trap.port},
                 "proxy": {**server, "proxy": {"type": "socks5", "host": HOST,
                                               "port": trap.port}},
                 "username": {**server, "username": "someone-else"}}[change]
    response = client.patch(f"/api/v1/tasks/{task_id}", headers=headers,
                            json={"recipients": {"emails": [], "server": elsewhere}})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        "recipients.server.password": "Password is required."}
    db.session.expire_all()
    task = db.session.get(Task, task_id)
    assert task.server["port"] == server["port"] and task.server["proxy"] is None
    # Typed again, it is the new endpoint's password.
    response = client.patch(f"/api/v1/tasks/{task_id}", headers=headers, json={
        "recipients": {"emails": [], "server": {**elsewhere, "password": "typed-again-1"}}})
    assert response.status_code == 200, response.get_json()
    db.session.expire_all()
    assert crypto.decrypt(db.session.get(Task, task_id).server["password"]) == "typed-again-1"


def test_a_proxy_password_stays_with_its_proxy(client, ftp_task, trap_proxy):
    task_id, headers, server = ftp_task
    proxy = {"type": "http", "host": HOST, "port": 3128, "username": "px"}
    response = client.patch(f"/api/v1/tasks/{task_id}", headers=headers, json={
        "recipients": {"emails": [], "server": {
            **server, "password": SECRET, "proxy": {**proxy, "password": "proxy-pw-1"}}}})
    assert response.status_code == 200, response.get_json()
    # The same proxy keeps its password (and the server its own: same endpoint).
    response = client.patch(f"/api/v1/tasks/{task_id}", headers=headers, json={
        "recipients": {"emails": [], "server": {**server, "proxy": proxy}}})
    assert response.status_code == 200, response.get_json()
    db.session.expire_all()
    stored = db.session.get(Task, task_id).server
    assert crypto.decrypt(stored["proxy"]["password"]) == "proxy-pw-1"
    assert crypto.decrypt(stored["password"]) == SECRET
    # The proxy moved to the attacker's port: neither password follows it.
    moved = {**server, "proxy": {**proxy, "port": trap_proxy.port}}
    answer = client.post(f"/api/v1/servers/test?task_id={task_id}", headers=headers,
                         json={**moved, "password": "typed-1"})
    assert answer.status_code == 200
    assert not any("proxy-pw-1" in line or "cHg6cHJveHktcHctMQ" in line
                   for line in trap_proxy.heard), trap_proxy.heard
    assert SECRET not in trap_proxy.passwords


def test_sftp_pinned_key_is_part_of_the_endpoint(client, make_company, api_token,
                                                 sftp_server, server_report_type):
    headers = api_token(make_company())
    server = {"transport": "sftp", "host": HOST, "port": sftp_server.port, "username": USER,
              "directory": "/in", "host_key_fingerprint": sftp_server.fingerprint}
    task_id = client.post("/api/v1/tasks", headers=headers, json={
        "name": "Health check", "report_type": "native_connection_status",
        "channels": ["whatsapp"], "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": [], "server": {**server, "password": SECRET}}}).get_json()["id"]
    for fingerprint in (None, "SHA256:" + "A" * 43):
        answer = client.post(f"/api/v1/servers/test?task_id={task_id}", headers=headers,
                             json={**server, "host_key_fingerprint": fingerprint})
        assert answer.status_code == 422, fingerprint
        assert answer.get_json()["error"]["fields"] == PASSWORD_REQUIRED
