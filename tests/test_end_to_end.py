"""The walking skeleton end to end: a company, its data, a task with two recipients, run now,
the emails, the link, a recipient's login and the CSV download."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter

from jobs import schedule as sched

from .conftest import PASSWORD


def ndjson(records) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode() + b"\n"


def test_report_goes_from_task_to_recipients_download(smtp_app, runner, make_user, api_token,
                                                      mailbox, work):
    app = smtp_app
    result = runner.invoke(args=["companies", "create", "Acme Bank", "--timezone",
                                 "Europe/London", "--admin-email", "admin@acme.example",
                                 "--admin-password", PASSWORD])
    assert result.exit_code == 0, result.output
    slug = result.output.strip()
    assert slug == "acme-bank"

    from webapp.extensions import db
    from webapp.models import Company
    company = db.session.query(Company).filter_by(slug=slug).one()
    make_user(company, "Rita.Recipient@acme.example", name="Rita")
    make_user(company, "sam@acme.example", name="Sam")
    headers = api_token(company, "admin@acme.example")
    client = app.test_client()

    # Data: two org units, two accounts, three rooms, messages inside and outside the window.
    def post(kind, records):
        response = client.post(f"/api/v1/ingest/{kind}", data=ndjson(records),
                               headers={**headers, "Content-Type": "application/x-ndjson"})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["rejected"] == 0, body
        return body

    post("org-units", [{"id": "ou1", "name": "Markets", "parent_id": None},
                       {"id": "ou2", "name": "Equities", "parent_id": "ou1"}])
    post("users", [{"id": "u1", "email": "rita.recipient@acme.example", "name": "Rita",
                    "org_unit_id": "ou2"}])
    post("accounts", [{"id": "a1", "channel": "whatsapp", "identifier": "+447700900001",
                       "user_id": "u1", "status": "connected"},
                      {"id": "a2", "channel": "sms", "identifier": "+447700900002",
                       "user_id": "u1", "status": "connected"}])
    post("rooms", [
        {"id": "r1", "channel": "whatsapp", "name": "Client A", "type": "direct",
         "org_unit_id": "ou2"},
        {"id": "r2", "channel": "whatsapp", "name": '=HYPERLINK("x")', "type": "group",
         "org_unit_id": "ou1"},
        {"id": "r3", "channel": "sms", "name": "Quiet room", "type": "direct",
         "org_unit_id": None},
    ])
    from datetime import UTC, datetime, timedelta
    now = datetime.now(UTC)
    recent = (now - timedelta(minutes=30)).isoformat()
    old = (now - timedelta(days=3)).isoformat()
    messages = [
        {"id": "m1", "room_id": "r1", "account_id": "a1", "direction": "sent", "sent_at": recent},
        {"id": "m2", "room_id": "r1", "account_id": "a1", "direction": "received",
         "sent_at": recent},
        {"id": "m3", "room_id": "r1", "account_id": "a1", "direction": "received",
         "sent_at": recent},
        {"id": "m4", "room_id": "r2", "account_id": "a1", "direction": "sent", "sent_at": recent},
        {"id": "m5", "room_id": "r3", "account_id": "a2", "direction": "sent", "sent_at": old},
    ]
    post("messages", messages)

    # A task with two recipients, then "run now".
    response = client.post("/api/v1/tasks", headers=headers, json={
        "name": "Rooms daily", "report_type": "usage_by_rooms",
        "channels": ["whatsapp", "sms"], "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": ["Rita.Recipient@acme.example", "sam@acme.example"]},
    })
    assert response.status_code == 201, response.get_json()
    task = response.get_json()
    assert task["status"] == "scheduled" and task["next_run_at"]
    response = client.post(f"/api/v1/tasks/{task['id']}/runs", headers=headers)
    assert response.status_code == 202, response.get_json()
    run = response.get_json()
    assert run["status"] == "queued"

    work()

    run = client.get(f"/api/v1/runs/{run['id']}", headers=headers).get_json()
    assert run["status"] == "succeeded", run
    assert run["row_count"] == 2
    assert sorted(d["target"] for d in run["deliveries"]) == [
        "Rita.Recipient@acme.example", "sam@acme.example"]
    assert all(d["status"] == "sent" and d["attempts"] == 1 for d in run["deliveries"])

    # Both emails arrived, each naming the company and linking to the run's page.
    assert sorted(r for rcpts, _ in mailbox.messages for r in rcpts) == [
        "Rita.Recipient@acme.example", "sam@acme.example"]
    message = next(m for rcpts, m in mailbox.messages if rcpts == ["Rita.Recipient@acme.example"])
    assert "Acme Bank" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert "2 rows" in text
    assert not any(part.get_filename() for part in message.walk())  # no attachment
    link = re.search(r"http://herald\.test(/runs/\d+)", text).group(1)
    assert link == f"/runs/{run['id']}"

    # The recipient follows the link, logs in, lands on the run and downloads the CSV.
    browser = app.test_client()
    response = browser.get(link)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    from .conftest import Auth
    response = Auth(browser).login("rita.recipient@acme.example", next_path=link)
    assert response.status_code == 302 and response.headers["Location"] == link
    page = browser.get(link).get_data(as_text=True)
    assert "Download" in page
    response = browser.get(f"{link}/download")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert re.search(r"acme-bank_usage_by_rooms_\d{8}T\d{4}-\d{8}T\d{4}\.csv", disposition)

    body = response.get_data(as_text=True)
    response.close()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["company", "channel", "room_id", "room_name", "room_type", "org_unit",
                       "messages_sent", "messages_received", "messages_total"]
    # Expected from the data: messages in the window, per room, on the selected channels.
    in_window = [m for m in messages if m["sent_at"] == recent]
    counts = Counter((m["room_id"], m["direction"]) for m in in_window)
    expected = []
    for room_id, name, rtype, unit in (("r1", "Client A", "direct", "Equities"),
                                       ("r2", "'=HYPERLINK(\"x\")", "group", "Markets")):
        sent, received = counts[(room_id, "sent")], counts[(room_id, "received")]
        expected.append(["Acme Bank", "whatsapp", room_id, name, rtype, unit, str(sent),
                         str(received), str(sent + received)])
    assert rows[1:] == expected

    # Sam is a user too, but Herald never attached the file: the download is audited.
    from webapp.models import AuditEvent
    events = db.session.query(AuditEvent).all()
    assert [(e.action, e.result) for e in events] == [("download", "allowed")]


def test_daily_schedule_dispatches_once_and_mails_the_outbox(make_company, api_token, app,
                                                              redis_conn, work):
    """No SMTP_URL: the scheduled run's emails land in the outbox, with the run's link."""
    from datetime import timedelta

    import sqlalchemy as sa

    from jobs.dispatch import dispatch
    from webapp.extensions import db
    from webapp.models import OutboxMessage, Run, Task

    company = make_company("Acme")
    headers = api_token(company)
    created = app.test_client().post("/api/v1/tasks", headers=headers, json={
        "name": "Daily", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30", "timezone": "Europe/London"},
        "recipients": {"emails": ["admin@acme.example", "team@acme.example"]}}).get_json()
    task = db.session.get(Task, created["id"])
    due = task.next_run_at
    assert due.astimezone(sched.of(task).tz).strftime("%H:%M") == "06:30"

    assert dispatch(due - timedelta(seconds=1), redis_conn) == []  # not yet
    [run_id] = dispatch(due + timedelta(seconds=1), redis_conn)
    assert dispatch(due + timedelta(seconds=2), redis_conn) == []  # never twice
    run = db.session.get(Run, run_id)
    assert (run.trigger, run.scheduled_for, run.window_end) == ("scheduled", due, due)
    assert run.window_start == due - timedelta(days=1) or \
        (due - run.window_start) in (timedelta(hours=23), timedelta(hours=25))
    db.session.refresh(task)
    assert task.watermark == due and task.next_run_at > due

    work()
    db.session.expire_all()
    assert db.session.get(Run, run_id).status == "succeeded"
    mails = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.to_addr)).all()
    assert [m.to_addr for m in mails] == ["admin@acme.example", "team@acme.example"]
    assert all(f"http://herald.test/runs/{run_id}" in m.text_body for m in mails)
    assert all("Acme" in m.subject and "<html" in m.html_body for m in mails)
    assert len({m.message_id for m in mails}) == 2
