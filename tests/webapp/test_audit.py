"""The audit trail: every action recorded with actor, address, target and changed fields
(secrets masked), surviving the target's deletion; GET /api/v1/audit and the portal's Audit
page with filters, keyset paging and CSV export; retention in bounded, repeatable steps."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from jobs.retention import PRUNE_KEY, prune_audit
from roles import permissions as P
from webapp.extensions import db
from webapp.models import AuditEvent, Task
from webapp.services import audit

from ..conftest import PASSWORD, Auth
from ..delivery_servers import HOST, USER
from ..roles.helpers import finished_run, give, make_role


def task_body(**override) -> dict:
    body = {"name": "Health check", "report_type": "native_connection_status",
            "channels": ["whatsapp"], "schedule": {"kind": "daily", "time": "06:30"},
            "recipients": {"emails": ["ops@acme.example"], "server": None}}
    body.update(override)
    return body


def actions(client, headers, **params) -> list[tuple]:
    body = client.get("/api/v1/audit", headers=headers, query_string=params).get_json()
    return [(e["action"], e["actor"], e["target_type"], e["target_name"])
            for e in body["events"]]


def test_actions_are_recorded_with_actor_target_and_masked_changes(
        app, client, make_company, make_user, api_token, server_report_type):
    company = make_company("Acme Bank")
    admin = "admin@acme-bank.example"
    headers = api_token(company)
    server = {"transport": "ftp", "host": HOST, "port": 2121, "username": USER,
              "password": "first-Secret-1", "directory": "/in"}
    task = client.post("/api/v1/tasks", headers=headers, json=task_body(
        recipients={"emails": [], "server": server})).get_json()
    client.patch(f"/api/v1/tasks/{task['id']}", headers=headers, json={
        "name": "Renamed", "recipients": {"emails": [], "server": {
            **server, "password": "second-Secret-2"}}})
    assert client.post(f"/api/v1/tasks/{task['id']}/runs", headers=headers).status_code == 202
    role = client.post("/api/v1/roles", headers=headers, json={
        "name": "desk", "permissions": [P.VIEW_TASKS]}).get_json()
    client.patch(f"/api/v1/roles/{role['id']}", headers=headers,
                 json={"permissions": [P.VIEW_TASKS, P.EDIT_TASKS]})
    bob = make_user(company, "bob@acme.example")
    client.post(f"/api/v1/users/{bob.id}/roles", headers=headers, json={"role_id": role["id"]})
    client.delete(f"/api/v1/users/{bob.id}/roles/{role['id']}", headers=headers)
    client.delete(f"/api/v1/roles/{role['id']}", headers=headers)
    client.put("/api/v1/sso", headers=headers, json={"client_secret": "sso-Secret-3"})
    client.delete(f"/api/v1/tasks/{task['id']}", headers=headers)
    auth = Auth(app.test_client())  # a browser of its own
    assert auth.login(admin, "wrong password").status_code == 200
    assert auth.login(admin).status_code == 302
    auth.logout()

    listed = client.get("/api/v1/audit", headers=headers)
    assert listed.status_code == 200
    text = listed.get_data(as_text=True)
    for secret in ("first-Secret-1", "second-Secret-2", "sso-Secret-3", "fernet:"):
        assert secret not in text
    assert actions(client, headers) == [
        ("logout", admin, "user", admin),
        ("login.success", admin, "user", admin),
        ("login.failure", admin, "user", admin),
        ("task.delete", admin, "task", "Renamed"),
        ("sso.update", admin, "sso_settings", "Acme Bank"),
        ("role.delete", admin, "role", "desk"),
        ("role.unassign", admin, "user", "bob@acme.example"),
        ("role.assign", admin, "user", "bob@acme.example"),
        ("role.update", admin, "role", "desk"),
        ("role.create", admin, "role", "desk"),
        ("task.run_now", admin, "task", "Renamed"),
        ("task.update", admin, "task", "Renamed"),
        ("task.create", admin, "task", "Health check"),
    ]
    events = {e["action"]: e for e in listed.get_json()["events"]}
    changed = events["task.update"]["details"]["changed"]
    assert changed["name"] == {"from": "Health check", "to": "Renamed"}
    assert changed["server.credentials"] == {"from": audit.MASK, "to": audit.MASK}
    assert events["task.delete"]["target_id"] == task["id"]  # the task is gone, its name stays
    assert events["role.update"]["details"]["changed"]["permissions"]["to"] == [
        P.EDIT_TASKS, P.VIEW_TASKS]
    assert events["sso.update"]["details"]["changed"]["client_secret"] == audit.MASK
    assert events["login.failure"]["ip"] == "127.0.0.1"


def test_downloads_filters_paging_and_permission(client, make_company, make_user, api_token):
    company = make_company("Acme Bank")
    headers = api_token(company)
    task = client.post("/api/v1/tasks", headers=headers, json={
        **task_body(), "report_type": "usage_by_rooms"}).get_json()
    run = finished_run(db.session.get(Task, task["id"]))
    carl = make_user(company, "carl@acme.example")
    give(carl, make_role(company, "viewer-only", {P.VIEW_TASKS}))
    carl_headers = api_token(company, "carl@acme.example")
    assert client.get(f"/api/v1/runs/{run.id}/csv", headers=carl_headers).status_code == 403
    client.get(f"/api/v1/runs/{run.id}/csv", headers=headers).close()
    assert actions(client, headers, action="run") == [
        ("run.download", "admin@acme-bank.example", "run", f"{task['name']} #{run.id}"),
        ("run.download_refused", "carl@acme.example", "run", f"{task['name']} #{run.id}")]
    assert [a[0] for a in actions(client, headers, actor="carl@acme.example")] == [
        "run.download_refused"]
    assert [a[0] for a in actions(client, headers, actor="CARL@Acme.example")] == [
        "run.download_refused"]  # the actor in any case (its index is on lower(actor))
    # a full action is that action alone; a family (with or without its dot) all below it
    assert [a[0] for a in actions(client, headers, action="run.download")] == ["run.download"]
    assert [a[0] for a in actions(client, headers, action="run.")] == [
        "run.download", "run.download_refused"]
    assert actions(client, headers, action="ru") == []
    assert [a[0] for a in actions(client, headers, action="run.download_refused",
                                  actor="carl@acme.example")] == ["run.download_refused"]
    assert client.get("/api/v1/audit", headers=carl_headers).status_code == 403
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert actions(client, headers, since=future) == []
    assert len(actions(client, headers, until=future)) == 3  # task.create too
    bad = client.get("/api/v1/audit", headers=headers,
                     query_string={"since": "yesterday", "cursor": "x"})
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["fields"]) == {"since", "cursor"}

    for n in range(120):
        audit.record("task.update", target_type="task", target_name=f"t{n}",
                     company_id=company.id)
    db.session.commit()
    seen, cursor = [], None
    while True:
        body = client.get("/api/v1/audit", headers=headers,
                          query_string={"cursor": cursor} if cursor else {}).get_json()
        seen += [e["id"] for e in body["events"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 123 and seen == sorted(seen, reverse=True)


def test_portal_page_filters_pages_and_exports_csv(client, auth, make_company):
    company = make_company("Acme Bank")
    for n in range(60):
        audit.record("task.update", target_type="task", target_name=f"=cmd{n}",
                     company_id=company.id, details={"password": "hunter2"})
    audit.record("role.create", target_type="role", target_name="desk", company_id=company.id)
    db.session.commit()
    assert auth.login("admin@acme-bank.example", PASSWORD).status_code == 302
    page = client.get("/admin/audit?action=task").get_data(as_text=True)
    assert page.count("<td>task.update</td>") == 50 and "role.create" not in page
    assert "Older events" in page and "hunter2" not in page
    older = client.get(client.get("/admin/audit?action=task").get_data(as_text=True)
                       .split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&"))
    assert older.get_data(as_text=True).count("<td>task.update</td>") == 10
    assert client.get("/admin/audit?since=nonsense").status_code == 422
    exported = client.get("/admin/audit.csv?action=task")
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0][:4] == ["id", "at", "actor", "action"] and len(rows) == 61
    assert rows[1][7] == "'=cmd59"  # formula-looking text is escaped
    assert "hunter2" not in exported.get_data(as_text=True)


def test_portal_page_shows_details_as_written_not_as_unicode_escapes(client, auth,
                                                                    make_company):
    """Details read as the CSV export writes them: "Zoë’s", never "Zo\\u00eb"."""
    company = make_company("Acme Bank")
    audit.record("token.create", target_type="user", target_name="Zoë",
                 company_id=company.id, details={"name": "Zoë’s <desk>", "scope": "read"})
    db.session.commit()
    assert auth.login("admin@acme-bank.example", PASSWORD).status_code == 302
    page = client.get("/admin/audit?action=token").get_data(as_text=True)
    assert "\\u" not in page
    assert '<td class="when">' in page  # the time on one line (herald.css)
    # still escaped for HTML
    assert '{&#34;name&#34;: &#34;Zoë’s &lt;desk&gt;&#34;, &#34;scope&#34;: &#34;read&#34;}' in page


@pytest.mark.parametrize("days", [400])
def test_retention_prunes_old_events_in_bounded_steps(app, make_company, redis_conn, days):
    company = make_company("Acme Bank")
    now = datetime.now(UTC)
    for age in (days + 10, days + 1, days - 1):
        for _ in range(3):
            db.session.add(AuditEvent(company_id=company.id, action="task.update",
                                      at=now - timedelta(days=age)))
    db.session.commit()
    assert prune_audit(now, days, redis_conn, batch=4) == 4  # a full batch: go on next tick
    assert prune_audit(now, days, redis_conn, batch=4) == 2
    assert prune_audit(now, days, redis_conn, batch=4) == 0  # once an hour from now on
    assert redis_conn.ttl(PRUNE_KEY) > 3000
    redis_conn.delete(PRUNE_KEY)
    assert prune_audit(now, days, redis_conn) == 0  # idempotent
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == 3


@pytest.mark.parametrize("args", [
    {}, {"action": "task"}, {"action": "task.update"}, {"actor": "OPS@acme.example"},
    {"action": "task", "actor": "ops@acme.example"}, {"since": "2026-01-01T00:00:00Z"},
    {"until": "2026-01-02T12:00:00Z"},
    {"since": "2026-01-01T06:00:00Z", "until": "2026-01-02T00:00:00Z"}])
def test_every_read_of_a_filter_pages_through_its_events_once_newest_first(make_company,
                                                                         args):
    """Each way page() reads (one index range; a family's ranges merged; a period sorted)
    gives the same events as the filter itself, a page after another by cursor."""
    from werkzeug.datastructures import MultiDict

    company = make_company("Acme Bank")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    db.session.add_all(AuditEvent(
        company_id=company.id, action=("task.update", "task.delete", "role.create")[n % 3],
        actor=("ops@acme.example", "system")[n % 2], at=start + timedelta(minutes=30 * n))
        for n in range(130))
    db.session.commit()
    filters = audit.parse_filters(MultiDict(args))
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.company_id == company.id)).all()
    expected = sorted((e.id for e in events if (
        not filters.action or e.action == filters.action
        or e.action.startswith(filters.action + "."))
        and (not filters.actor or e.actor == filters.actor.lower())
        and (not filters.since or e.at >= filters.since)
        and (not filters.until or e.at < filters.until)), reverse=True)
    seen = []
    while True:
        page = audit.page(company.id, filters, limit=20)
        seen += [e.id for e in page.items]
        if page.next_cursor is None:
            break
        filters.cursor = page.next_cursor
    assert seen == expected and len(expected) > 20


def _event_at(company, action: str, at: datetime) -> None:
    audit.record(action, target_type="task", target_name=action, company_id=company.id).at = at


def _export_href(page: str) -> str:
    return page.split('">Export CSV</a>')[0].rsplit('href="', 1)[1].replace("&amp;", "&")


def test_portal_period_is_read_in_the_company_time_zone(client, auth, make_company):
    """Since and Until are datetime-local boxes read in the company's zone (Europe/London:
    11:00 on 1 July is 10:00 UTC); ISO 8601 with its offset is still taken; the CSV export
    link carries the same period, as ISO with its offset."""
    company = make_company("Acme Bank")
    _event_at(company, "task.update", datetime(2026, 7, 1, 10, 30, tzinfo=UTC))  # 11:30 BST
    db.session.commit()
    assert auth.login("admin@acme-bank.example", PASSWORD).status_code == 302
    page = client.get("/admin/audit?since=2026-07-01T11:00&action=task.update")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "<td>task.update</td>" in text
    assert 'Since (Europe/London) <input type="datetime-local" name="since" ' \
           'value="2026-07-01T11:00"' in text and "Until (Europe/London)" in text
    assert "since=2026-07-01T11:00:00%2B01:00" in _export_href(text)
    rows = list(csv.reader(io.StringIO(client.get(_export_href(text)).get_data(as_text=True))))
    assert [r[3] for r in rows[1:]] == ["task.update"]
    later = client.get("/admin/audit?since=2026-07-01T11:45&action=task.update")
    assert "<td>task.update</td>" not in later.get_data(as_text=True)  # 10:45 UTC
    assert "<td>task.update</td>" not in client.get(
        "/admin/audit?since=2026-07-02&action=task.update").get_data(as_text=True)  # midnight
    until = client.get("/admin/audit?until=2026-07-01T11:45&action=task.update")
    assert "<td>task.update</td>" in until.get_data(as_text=True)
    # the CSV export reads a local time in the same zone
    rows = list(csv.reader(io.StringIO(client.get(
        "/admin/audit.csv?since=2026-07-01T11:45&action=task.update").get_data(as_text=True))))
    assert len(rows) == 1
    # ISO 8601 with its offset, as links and the API take it: shown as the local time
    iso = client.get("/admin/audit", query_string={"since": "2026-07-01T10:00:00+00:00",
                                                   "action": "task.update"})
    text = iso.get_data(as_text=True)
    assert iso.status_code == 200 and "<td>task.update</td>" in text
    assert 'name="since" value="2026-07-01T11:00"' in text
    older = client.get("/admin/audit", query_string={"since": "2026-07-01T10:00:05+00:00"})
    assert 'value="2026-07-01T11:00:05" step="1"' in older.get_data(as_text=True)


@pytest.mark.parametrize(("local", "iso", "shown"), [
    ("2026-03-29T01:30", "2026-03-29T01:30:00%2B00:00", "2026-03-29T02:30"),  # the gap
    ("2026-10-25T01:30", "2026-10-25T01:30:00%2B01:00", "2026-10-25T01:30"),  # twice: the first
])
def test_portal_period_reads_a_dst_change_time_with_the_offset_before_it(
        client, auth, make_company, local, iso, shown):
    """zoneinfo's fold=0: a local time the spring change skips is read with the winter offset
    (so it is shown as the summer time it is), one the autumn change repeats is the first."""
    make_company("Acme Bank")
    assert auth.login("admin@acme-bank.example", PASSWORD).status_code == 302
    text = client.get(f"/admin/audit?since={local}").get_data(as_text=True)
    assert f"since={iso}" in _export_href(text)
    assert f'name="since" value="{shown}"' in text


@pytest.mark.parametrize("query", ["since=nonsense", "until=1900-01-01T00:00",
                                   "since=2026-13-01T00:00", "action=" + "x" * 255])
def test_portal_page_with_a_bad_filter_shows_its_error_and_no_events(client, auth,
                                                                     make_company, query):
    company = make_company("Acme Bank")
    _event_at(company, "task.update", datetime(2026, 7, 1, 10, 30, tzinfo=UTC))
    db.session.commit()
    assert auth.login("admin@acme-bank.example", PASSWORD).status_code == 302
    answer = client.get(f"/admin/audit?{query}")
    text = answer.get_data(as_text=True)
    field = query.split("=")[0]
    assert answer.status_code == 422
    assert f'aria-invalid="true" aria-describedby="error-{field}"' in text
    assert f'<p class="error field-error" id="error-{field}">' in text
    assert "<td>task.update</td>" not in text and 'id="audit"' not in text
    assert "Export CSV" not in text
    assert "The events are shown once the filters are fixed." in text
    assert client.get(f"/admin/audit.csv?{query}").status_code == 422


def test_portal_page_says_when_filters_match_nothing(client, auth, make_company):
    company = make_company("Acme Bank")
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.company_id == company.id))
    db.session.commit()
    assert auth.login("admin@acme-bank.example", PASSWORD).status_code == 302
    empty = client.get("/admin/audit?until=2000-01-01T00:00").get_data(as_text=True)
    assert "No events match these filters." in empty and "Nothing yet." not in empty
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.company_id == company.id))
    db.session.commit()  # the login itself is audited
    text = client.get("/admin/audit").get_data(as_text=True)
    assert "Nothing yet." in text and "No events match" not in text
