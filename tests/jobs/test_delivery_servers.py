"""Uploads to real FTP, FTPS and SFTP servers, directly and through real SOCKS5 and HTTP
CONNECT proxies; the faults a real server or proxy gives, with the exact error recorded, the
retry planned, and no second copy once a retry succeeds."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from jobs.delivery import attempts
from jobs.embedded_redis import free_port
from jobs.reports import storage
from jobs.runner import DeliveryError, run_report
from webapp.extensions import db
from webapp.models import Delivery, Run
from webapp.services import tasks as task_service

from ..delivery_servers import HOST, SECRET, USER, start_proxy, start_sftp


def server_payload(server, transport: str, **override) -> dict:
    payload = {"transport": transport, "host": HOST, "port": server.port, "username": USER,
               "password": SECRET, "directory": "/in"}
    if transport == "sftp":
        payload["host_key_fingerprint"] = server.fingerprint
    payload.update(override)
    return payload


def make_task(company, server: dict, emails=()):
    data = task_service.validate(company, {
        "name": "Health check", "report_type": "native_connection_status",
        "channels": ["whatsapp", "imessage"], "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": list(emails), "server": server}})
    task = task_service.save(company, data, datetime.now(UTC))
    db.session.commit()
    return task


def run_once(task, expect_failure: bool = False) -> Run:
    run = task_service.run_now(task, datetime.now(UTC))
    db.session.commit()
    if expect_failure:
        with pytest.raises(DeliveryError):
            run_report(run.id)
    else:
        run_report(run.id)
    db.session.expire_all()
    return db.session.get(Run, run.id)


def server_delivery(run: Run) -> Delivery:
    [delivery] = [d for d in run.deliveries if d.kind == "server"]
    return delivery


def assert_first_retry_planned(delivery: Delivery) -> None:
    """Attempt 1 failed: the next is due DELIVERY_RETRY_DELAYS[0] (300 s) after it started."""
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.next_attempt_at == delivery.claimed_at + timedelta(seconds=300)


def csv_bytes(run: Run) -> bytes:
    with storage.local_copy(run) as path, open(path, "rb") as fh:
        return fh.read()


SERVERS = {"ftp": "ftp_server", "ftps": "ftps_server", "sftp": "sftp_server"}


@pytest.mark.parametrize("transport", ["ftp", "ftps", "sftp"])
@pytest.mark.parametrize("via", ["direct", "socks5", "http"])
def test_upload_arrives_whole_under_its_name(request, app, make_company, server_report_type,
                                             transport, via):
    server = request.getfixturevalue(SERVERS[transport])
    settings = server_payload(server, transport)
    proxy_server = None
    if via != "direct":  # a real proxy with credentials; data connections go through it too
        proxy_server = start_proxy(via, "proxyuser", "proxy-Pa55")
        settings["proxy"] = proxy_server.settings()
    task = make_task(make_company(), settings)
    try:
        run = run_once(task)
    finally:
        if proxy_server:
            proxy_server.stop()

    delivery = server_delivery(run)
    assert (run.status, delivery.status, delivery.attempts, delivery.error) == (
        "succeeded", "sent", 1, None)
    assert delivery.target == f"{transport}://{USER}@{HOST}:{server.port}/in"
    assert delivery.delivered_at is not None
    # Only the final name is left on the server (the temporary one was renamed), whole.
    assert server.files() == {run.file_name: csv_bytes(run)}
    assert csv_bytes(run).count(b"\n") == 1 + 2 * 3


def test_run_with_emails_and_server_records_each(smtp_app, make_company, server_report_type,
                                                 sftp_server, mailbox):
    task = make_task(make_company(), server_payload(sftp_server, "sftp"),
                     emails=["ops@acme.example", "risk@acme.example"])
    run = run_once(task)
    assert sorted((d.kind, d.target, d.status) for d in run.deliveries) == [
        ("email", "ops@acme.example", "sent"), ("email", "risk@acme.example", "sent"),
        ("server", f"sftp://{USER}@{HOST}:{sftp_server.port}/in", "sent")]
    assert len(mailbox.messages) == 2


# --- faults ----------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["ftp", "sftp"])
def test_server_down(app, make_company, server_report_type, transport, sftp_server):
    port = free_port()  # nothing listens there
    settings = server_payload(sftp_server, transport, port=port)
    task = make_task(make_company(), settings)
    run = run_once(task, expect_failure=True)
    delivery = server_delivery(run)
    assert delivery.error == f"Could not connect to {HOST}:{port}: Connection refused"
    assert (run.status, delivery.status, delivery.attempts) == ("failed", "failed", 1)
    assert delivery.next_attempt_at == delivery.claimed_at + timedelta(seconds=300)


@pytest.mark.parametrize("transport", ["ftp", "ftps", "sftp"])
def test_wrong_password(request, app, make_company, server_report_type, transport, caplog):
    caplog.set_level(logging.DEBUG)
    server = request.getfixturevalue(SERVERS[transport])
    task = make_task(make_company(), server_payload(server, transport, password="Not-The-Pa55"))
    run = run_once(task, expect_failure=True)
    delivery = server_delivery(run)
    expected = {
        "ftp": f"Login as '{USER}' refused: 530 Authentication failed.",
        "ftps": f"Login as '{USER}' refused: 530 Authentication failed.",
        "sftp": f"Authentication as '{USER}' on {HOST}:{server.port} failed: wrong username "
                "or password",
    }[transport]
    assert delivery.error == expected
    assert_first_retry_planned(delivery)
    assert server.files() == {}
    # Neither password reaches a log line, ours or a library's (paramiko's, RQ's, …).
    assert not any("Not-The-Pa55" in r.getMessage() for r in caplog.records
                   if not r.name.startswith("pyftpdlib"))


@pytest.mark.parametrize("transport", ["ftp", "sftp"])
def test_transfer_timeout(request, app, make_company, server_report_type, transport):
    server = request.getfixturevalue(SERVERS[transport])
    server_report_type.rows_per_channel = 20_000
    app.config["DELIVERY_TRANSFER_TIMEOUT"] = 0.001
    run = run_once(make_task(make_company(), server_payload(server, transport)),
                   expect_failure=True)
    assert server_delivery(run).error == (
        f"Upload of {run.file_name} to {HOST}:{server.port}/in failed: the upload took "
        "longer than 0.001 s")
    assert run.file_name not in server.files()


def test_host_key_changed_uploads_nothing(app, make_company, server_report_type, sftp_server,
                                          tmp_path):
    trusted = sftp_server.fingerprint
    task = make_task(make_company(), server_payload(sftp_server, "sftp"))
    sftp_server.stop()
    impostor = start_sftp(sftp_server.root, port=sftp_server.port)  # same place, new key
    try:
        assert impostor.fingerprint != trusted
        run = run_once(task, expect_failure=True)
    finally:
        impostor.stop()
    delivery = server_delivery(run)
    assert delivery.error == (
        f"Host key changed: {HOST}:{sftp_server.port} presented {impostor.fingerprint}, but "
        f"the task trusts {trusted}. Nothing was sent. If the change is expected, test the "
        "connection and save the task to trust the new key.")
    assert_first_retry_planned(delivery)
    assert impostor.files() == {}


@pytest.mark.parametrize("transport", ["ftp", "sftp"])
def test_dropped_mid_transfer_then_one_copy_on_retry(request, app, make_company,
                                                     server_report_type, transport, redis_conn,
                                                     work):
    server = request.getfixturevalue(SERVERS[transport])
    server_report_type.rows_per_channel = 20_000  # ~1 MB: the drop comes mid-file
    server.faults.drop_after = 100_000
    task = make_task(make_company(), server_payload(server, transport))

    run = run_once(task, expect_failure=True)

    delivery = server_delivery(run)
    assert server.faults.drops == 1
    prefix = f"Upload of {run.file_name} to {HOST}:{server.port}/in failed: "
    assert delivery.error.startswith(prefix), delivery.error
    # The reason is the one the socket gave at that moment: the peer's reset or close.
    assert delivery.error[len(prefix):] in {
        "Connection reset by peer", "Broken pipe", "the server closed the connection",
        "Server connection dropped: ", "Socket is closed", "EOFError"}, delivery.error
    assert run.file_name not in server.files()  # the receiving side never sees a half file
    assert delivery.next_attempt_at == delivery.claimed_at + timedelta(seconds=300)

    # Not due yet: nothing is enqueued. Due: one job; it uploads the whole file once.
    assert attempts.enqueue_due(delivery.next_attempt_at - timedelta(seconds=1),
                                redis_conn) == []
    assert attempts.enqueue_due(delivery.next_attempt_at, redis_conn) == [delivery.id]
    assert attempts.enqueue_due(delivery.next_attempt_at, redis_conn) == []  # job exists
    work()
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery.id)
    assert (delivery.status, delivery.attempts, delivery.error) == ("sent", 2, None)
    assert delivery.run.status == "succeeded"
    files = server.files()
    assert files[run.file_name] == csv_bytes(run)
    assert [n for n in files if n != f"{run.file_name}.part"] == [run.file_name]
    # Sent is final: another due pass or a replayed job does nothing.
    assert attempts.enqueue_due(datetime.now(UTC) + timedelta(days=1), redis_conn) == []
    assert attempts.deliver(delivery.id, 2) is None
    assert attempts.deliver(delivery.id, 3) is None


@pytest.mark.parametrize("kind", ["socks5", "http"])
def test_proxy_refusing(app, make_company, server_report_type, sftp_server, kind):
    proxy_server = start_proxy(kind, "proxyuser", "proxy-Pa55")
    try:
        settings = server_payload(sftp_server, "sftp",
                                  proxy=proxy_server.settings(password="not-it"))
        run = run_once(make_task(make_company(), settings), expect_failure=True)
    finally:
        proxy_server.stop()
    delivery = server_delivery(run)
    label = {"socks5": "SOCKS5 proxy", "http": "HTTP CONNECT proxy"}[kind]
    reason = {"socks5": "Connection closed unexpectedly",
              "http": "407 Proxy Authentication Required"}[kind]
    assert delivery.error == (f"{label} {HOST}:{proxy_server.port} refused the connection to "
                              f"{HOST}:{sftp_server.port}: {reason}")
    assert_first_retry_planned(delivery)
    assert sftp_server.files() == {}


@pytest.mark.parametrize("kind", ["socks5", "http"])
def test_proxy_down(app, make_company, server_report_type, sftp_server, kind):
    port = free_port()
    settings = server_payload(sftp_server, "sftp", proxy={"type": kind, "host": HOST,
                                                          "port": port})
    run = run_once(make_task(make_company(), settings), expect_failure=True)
    label = {"socks5": "SOCKS5 proxy", "http": "HTTP CONNECT proxy"}[kind]
    assert server_delivery(run).error == \
        f"Could not connect to {label} {HOST}:{port}: Connection refused"
    assert_first_retry_planned(server_delivery(run))


def test_retry_schedule_until_attempts_run_out(app, make_company, server_report_type,
                                               redis_conn, work):
    app.config["DELIVERY_RETRY_DELAYS"] = (60, 600)
    port = free_port()
    task = make_task(make_company(), {"transport": "ftp", "host": HOST, "port": port,
                                      "username": USER, "password": SECRET,
                                      "directory": "/in"})
    run = run_once(task, expect_failure=True)
    delivery = server_delivery(run)
    seen = []
    for _ in range(5):
        db.session.expire_all()
        delivery = db.session.get(Delivery, delivery.id)
        seen.append((delivery.attempts, delivery.status,
                     None if delivery.next_attempt_at is None else
                     (delivery.next_attempt_at - delivery.claimed_at).total_seconds()))
        if delivery.next_attempt_at is None:
            break
        assert attempts.enqueue_due(delivery.next_attempt_at, redis_conn) == [delivery.id]
        work()
    assert seen == [(1, "failed", 60.0), (2, "failed", 600.0), (3, "failed", None)]
    assert delivery.error == f"Could not connect to {HOST}:{port}: Connection refused"
    assert attempts.enqueue_due(datetime.now(UTC) + timedelta(days=30), redis_conn) == []
    assert delivery.run.status == "failed"
    # The CSV stays downloadable whatever happened to the deliveries.
    assert csv_bytes(delivery.run).startswith(b"company,channel")


def test_interrupted_attempt_is_recovered_and_retried(app, make_company, server_report_type,
                                                      sftp_server, redis_conn, work):
    task = make_task(make_company(), server_payload(sftp_server, "sftp"))
    run = task_service.run_now(task, datetime.now(UTC))
    db.session.commit()
    # The worker claims attempt 1 and dies before recording anything.
    from jobs.runner import _build

    _build(run, datetime.now(UTC))
    db.session.commit()  # as the runner commits it (with the first delivery's claim)
    delivery = server_delivery(run)
    assert attempts.claim(delivery.id, 1, datetime.now(UTC) - timedelta(hours=2))
    assert not attempts.claim(delivery.id, 1, datetime.now(UTC))  # taken: nobody else sends
    now = datetime.now(UTC)
    # The periodic tick (jobs/tick.run_tick) recovers it and enqueues its next attempt.
    from jobs.reaper import retry_deliveries

    assert retry_deliveries(now, redis_conn) == [delivery.id]
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery.id)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.error == "Interrupted: the worker stopped during attempt 1 (outcome unknown)"
    work()
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery.id)
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert list(sftp_server.files()) == [run.file_name]


def test_pending_delivery_of_a_reaped_run_is_delivered(app, make_company, server_report_type,
                                                       sftp_server, redis_conn, work):
    from jobs.reaper import retry_deliveries
    from jobs.runner import _build

    task = make_task(make_company(), server_payload(sftp_server, "sftp"))
    run = task_service.run_now(task, datetime.now(UTC))
    db.session.commit()
    _build(run, datetime.now(UTC))  # the CSV and the delivery rows, then the worker died
    db.session.commit()
    run.status, run.error = "failed", "the worker stopped (reaped)"
    run.finished_at = datetime.now(UTC) - timedelta(minutes=5)
    db.session.commit()
    delivery_id = server_delivery(run).id

    assert retry_deliveries(datetime.now(UTC), redis_conn) == [delivery_id]
    work()
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery_id)
    assert (delivery.status, delivery.attempts, delivery.error) == ("sent", 1, None)
    assert delivery.run.status == "succeeded"
    assert list(sftp_server.files()) == [run.file_name]
    assert retry_deliveries(datetime.now(UTC) + timedelta(days=1), redis_conn) == []


def test_ftps_certificate_not_trusted(app, make_company, server_report_type, ftps_server):
    app.config["FTPS_CA_FILE"] = None  # the test CA is not trusted
    run = run_once(make_task(make_company(), server_payload(ftps_server, "ftps")),
                   expect_failure=True)
    assert server_delivery(run).error == (
        f"TLS with {HOST}:{ftps_server.port} failed: certificate verify failed: unable to get "
        "local issuer certificate")
    assert ftps_server.files() == {}


def test_ftps_to_a_server_without_tls(app, make_company, server_report_type, ftp_server):
    run = run_once(make_task(make_company(), server_payload(ftp_server, "ftps")),
                   expect_failure=True)
    assert server_delivery(run).error == (
        f"{HOST}:{ftp_server.port} refused TLS (AUTH TLS): 500 Command \"AUTH\" not "
        "understood.")
