"""Send test through the real server (issue 12): a portal POST, the worker builds the report,
the SMTP sink gets one message, for the admin who pressed it, none for the task's
recipients; the run is "test" in the API's run dump and not the task's last run."""

from __future__ import annotations

import re
import time

from tests.conftest import PASSWORD

from .conftest import make_tenant
from .test_accounts_live import csrf, login
from .test_security import Api


def test_send_test_mails_only_the_admin_who_pressed_it(live, mailbox):
    tenant = make_tenant(live, "Test Send Bank")
    admin = Api(live.url, tenant.token)
    recipients = ["ops@test-send-bank.example", "cfo@test-send-bank.example"]
    task = admin.post("/api/v1/tasks", json={
        "name": "Rooms to test", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": recipients}}).json()
    session, answer = login(live, tenant.admin_email, PASSWORD)
    assert answer.ok and "/login" not in answer.url, answer.text[:2000]
    page = f"{live.url}/tasks/{task['id']}"
    sent = session.post(f"{page}/send-test", data={"csrf_token": csrf(session, page)},
                        allow_redirects=False, timeout=30)
    assert sent.status_code == 302, sent.text
    run_id = int(re.search(r"/runs/(\d+)$", sent.headers["Location"]).group(1))
    deadline = time.monotonic() + 60
    while (run := admin.get(f"/api/v1/runs/{run_id}").json())["status"] in ("queued",
                                                                            "running"):
        assert time.monotonic() < deadline, live.log()
        time.sleep(0.3)
    assert run["status"] == "succeeded" and run["trigger"] == "test", run
    assert [(d["kind"], d["target"]) for d in run["deliveries"]] == [
        ("email", tenant.admin_email)]
    time.sleep(1)  # any other message would have come with it
    with mailbox.lock:
        got = [(to, m["Subject"]) for to, m in mailbox.messages
               if "Rooms to test" in (m["Subject"] or "")]
    assert [to for to, _ in got] == [[tenant.admin_email]], got
    assert got[0][1].startswith("[Test Send Bank] Test: Rooms to test")
    # The period in the task's time zone, named (the company's, as none was given).
    zone = admin.get(f"/api/v1/tasks/{task['id']}").json()["schedule"]["timezone"]
    assert got[0][1].endswith(f" ({zone})"), got
    runs = admin.get(f"/api/v1/tasks/{task['id']}/runs").json()["runs"]
    assert [(r["id"], r["trigger"]) for r in runs] == [(run_id, "test")]
    again = admin.get(f"/api/v1/tasks/{task['id']}").json()
    assert again["last_run"] is None and again["next_run_at"] == task["next_run_at"]
    history = session.get(page, timeout=30).text
    assert '<span class="badge test">Test</span>' in history
