"""Lists in process: the task list (search, filters, sorting, pages), run history, the Outbox
(keyset pages, filters, CSV) and the API's cursors. Over HTTP: tests/e2e/test_lists_live.py and
tests/e2e/browser/test_lists.py."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import PASSWORD
from webapp.extensions import db
from webapp.models import OutboxMessage, Run, Task

NOW = datetime(2026, 11, 30, 6, 30, tzinfo=UTC)


def add_tasks(company, count: int, **fields) -> list[Task]:
    tasks = [Task(company_id=company.id, name=f"Task {n:03d}", report_type=fields.get(
        "report_type", "usage_by_rooms" if n % 2 else "room_metadata"),
        channels=["whatsapp"], schedule_kind="daily", schedule_time="06:30",
        timezone="Europe/London", options={}, active=n % 3 != 0,
        status="scheduled" if n % 3 else "inactive") for n in range(count)]
    db.session.add_all(tasks)
    db.session.commit()
    return tasks


def add_runs(task: Task, count: int) -> None:
    db.session.add_all(Run(company_id=task.company_id, task_id=task.id, trigger="manual",
                           window_start=NOW - timedelta(hours=n + 1), window_end=NOW,
                           status="failed" if n % 10 == 0 else "succeeded")
                       for n in range(count))
    db.session.commit()


def names(page: str) -> list[str]:
    return re.findall(r'href="/tasks/\d+">([^<]+)</a>', page)


def next_link(page: str) -> str:
    return re.search(r'rel="next" href="([^"]+)"', page).group(1).replace("&amp;", "&")


@pytest.fixture
def admin(client, auth, make_company):
    company = make_company("Acme Bank")
    assert auth.login("admin@acme-bank.example", PASSWORD).status_code == 302
    return company


def test_task_list_searches_filters_sorts_and_pages(client, admin):
    add_tasks(admin, 60)
    page = client.get("/tasks").get_data(as_text=True)
    assert "60 tasks, page 1 of 2." in page
    assert names(page) == [f"Task {n:03d}" for n in range(50)]
    second = client.get(next_link(page)).get_data(as_text=True)
    assert names(second) == [f"Task {n:03d}" for n in range(50, 60)]
    assert names(client.get("/tasks?sort=-name").get_data(as_text=True))[:2] == [
        "Task 059", "Task 058"]
    found = client.get("/tasks?q=task+04").get_data(as_text=True)
    assert "10 tasks." in found and names(found)[0] == "Task 040"
    off = client.get("/tasks?active=false&report_type=room_metadata").get_data(as_text=True)
    assert "10 tasks." in off and names(off)[:2] == ["Task 000", "Task 006"]  # n % 6 == 0
    assert "20 tasks." in client.get("/tasks?status=inactive").get_data(as_text=True)
    assert "No task matches" in client.get("/tasks?q=zzz").get_data(as_text=True)
    bad = client.get("/tasks?status=sleeping&sort=size")
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "Status must be one of inactive, scheduled, running." in text and "Sort must be" in text


def test_run_history_pages_by_keyset_and_filters(client, admin):
    task = add_tasks(admin, 1)[0]
    add_runs(task, 120)
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    shown = [int(n) for n in re.findall(r">#(\d+)</a>", page)]
    assert len(shown) == 50 and shown == sorted(shown, reverse=True)
    older = client.get(next_link(page)).get_data(as_text=True)
    more = [int(n) for n in re.findall(r">#(\d+)</a>", older)]
    assert len(more) == 50 and max(more) < min(shown)
    failed = client.get(f"/tasks/{task.id}?status=failed").get_data(as_text=True)
    assert len(re.findall(r">#(\d+)</a>", failed)) == 12 and 'rel="next"' not in failed
    assert client.get(f"/tasks/{task.id}?cursor=abc").status_code == 422


def test_outbox_pages_filters_and_exports_escaped_csv(client, admin, make_company):
    other = make_company("Other Bank")
    for n in range(70):
        db.session.add(OutboxMessage(
            company_id=admin.id, to_addr="ops@acme.example" if n % 2 else "cfo@acme.example",
            from_addr="reports@herald.example", subject=f"=HYPERLINK(\"x\") report {n}",
            text_body="body", html_body="<p>body</p>", message_id=f"<{n}@herald>"))
    db.session.add(OutboxMessage(company_id=other.id, to_addr="x@other.example",
                                 from_addr="r@h.example", subject="other company",
                                 text_body="b", html_body="b", message_id="<o@h>"))
    db.session.commit()
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert page.count("<td>ops@acme.example</td>") + page.count("<td>cfo@acme.example</td>") == 50
    assert "other company" not in page
    older = client.get(next_link(page)).get_data(as_text=True)
    assert older.count("acme.example</td>") == 20 and 'rel="next"' not in older
    only = client.get("/admin/outbox?to=CFO@acme.example&q=report+6").get_data(as_text=True)
    assert only.count("<td>cfo@acme.example</td>") == 6  # 6, 60, 62, 64, 66, 68
    assert client.get("/admin/outbox?cursor=-1").status_code == 422
    exported = client.get("/admin/outbox.csv?to=ops@acme.example")
    assert exported.mimetype == "text/csv" and "attachment" in exported.headers[
        "Content-Disposition"]
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0][:5] == ["id", "created_at", "to", "from", "subject"] and len(rows) == 36
    assert rows[1][4] == "'=HYPERLINK(\"x\") report 69"  # a formula is escaped
    assert client.get("/admin/outbox.csv?limit=0").status_code == 422


def test_api_lists_page_by_cursor(client, admin, api_token):
    headers = api_token(admin)
    tasks = add_tasks(admin, 7)
    add_runs(tasks[0], 5)
    seen, cursor = [], None
    while True:
        body = client.get("/api/v1/tasks", headers=headers,
                          query_string={"limit": 3, "cursor": cursor or ""}).get_json()
        seen += [t["id"] for t in body["tasks"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert seen == [t.id for t in tasks]
    first = client.get("/api/v1/tasks?limit=1", headers=headers).get_json()["tasks"][0]
    assert first["last_run"]["id"] == max(r.id for r in db.session.query(Run))
    assert "recipients_without_download" not in first
    found = client.get("/api/v1/tasks?active=false&q=TASK", headers=headers).get_json()
    assert [t["name"] for t in found["tasks"]] == ["Task 000", "Task 003", "Task 006"]
    runs = client.get(f"/api/v1/tasks/{tasks[0].id}/runs?limit=2", headers=headers).get_json()
    assert len(runs["runs"]) == 2 and runs["runs"][0]["deliveries"] == []
    rest = client.get(f"/api/v1/tasks/{tasks[0].id}/runs", headers=headers,
                      query_string={"cursor": runs["next_cursor"]}).get_json()
    assert len(rest["runs"]) == 3 and rest["next_cursor"] is None
    bad = client.get("/api/v1/tasks?limit=500&active=maybe", headers=headers)
    assert bad.status_code == 422 and set(bad.get_json()["error"]["fields"]) == {"limit",
                                                                                 "active"}
    bad = client.get(f"/api/v1/tasks/{tasks[0].id}/runs?trigger=cron", headers=headers)
    assert bad.status_code == 422 and "trigger" in bad.get_json()["error"]["fields"]
