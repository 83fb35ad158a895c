"""The series rules through the dispatcher, a worker and the API, in process: catch-up per
task after the dispatcher was down across a DST change, end dates, skip when empty, .csv.gz."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from jobs import dispatch as dispatcher
from webapp.extensions import db
from webapp.models import OutboxMessage, Run, Task
from webapp.services import tasks as task_service
from webapp.services.errors import InputError
from webapp.services.ingest import ingest

TASK = {"name": "Rooms", "report_type": "usage_by_rooms", "channels": ["sms"],
        "recipients": {"emails": ["ops@acme.example"]}}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def new_task(company, now: datetime, **fields) -> Task:
    data = task_service.validate(company, {**TASK, "schedule": {
        "kind": "daily", "time": "01:30"}, **fields})
    task = task_service.save(company, data, now)
    db.session.commit()
    return task


def windows(task_id: int) -> list[tuple[datetime, datetime, str]]:
    return [(r.window_start, r.window_end, r.trigger) for r in db.session.scalars(
        sa.select(Run).where(Run.task_id == task_id).order_by(Run.scheduled_for))]


def test_dispatcher_down_across_spring_forward_each_and_combine(app, make_company,
                                                                redis_conn):
    company = make_company()  # Europe/London: clocks go forward 29 Mar 2026 01:00 → 02:00
    created = utc(2026, 3, 26, 12)
    each = new_task(company, created, catch_up="each")
    combine = new_task(company, created, catch_up="combine")
    dispatcher.dispatch(utc(2026, 3, 27, 1, 30), redis_conn, ahead=timedelta(0))
    # down from 27 Mar 01:30 to 31 Mar 09:00 (BST)
    dispatcher.dispatch(utc(2026, 3, 31, 8), redis_conn, ahead=timedelta(0))
    got = windows(each.id)
    assert [(s, e) for s, e, _ in got] == [
        (utc(2026, 3, 26, 1, 30), utc(2026, 3, 27, 1, 30)),
        (utc(2026, 3, 27, 1, 30), utc(2026, 3, 28, 1, 30)),
        (utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30)),  # 01:30 did not exist: 02:30 BST
        (utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)),  # 23 hours
        (utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30))]
    assert [t for _, _, t in got] == ["scheduled"] + ["catch_up"] * 4
    assert windows(combine.id)[1:] == [
        (utc(2026, 3, 27, 1, 30), utc(2026, 3, 31, 0, 30), "catch_up")]
    for task in (each, combine):
        db.session.refresh(task)
        assert task.watermark == utc(2026, 3, 31, 0, 30)
        assert task.next_run_at == utc(2026, 4, 1, 0, 30)


def test_dispatcher_down_across_fall_back_each_is_capped(app, make_company, redis_conn):
    app.config["CATCH_UP_MAX"] = 3
    company = make_company()  # clocks go back 25 Oct 2026 02:00 BST → 01:00 GMT
    task = new_task(company, utc(2026, 10, 20, 12), catch_up="each")
    dispatcher.dispatch(utc(2026, 10, 21, 0, 30), redis_conn, ahead=timedelta(0))
    dispatcher.dispatch(utc(2026, 10, 27, 9), redis_conn, ahead=timedelta(0))
    got = [(s, e) for s, e, _ in windows(task.id)]
    assert got[1:] == [
        (utc(2026, 10, 21, 0, 30), utc(2026, 10, 25, 0, 30)),  # 4 instants combined
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)),  # 25 hours
        (utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30))]


def test_a_task_ends_after_its_last_run_and_deactivates_itself(app, make_company,
                                                               redis_conn):
    company = make_company()
    task = new_task(company, utc(2026, 12, 28, 12), ends_on="2026-12-30",
                    schedule={"kind": "daily", "time": "00:00"})
    for day in (29, 30, 31):
        dispatcher.dispatch(utc(2026, 12, day), redis_conn, ahead=timedelta(0))
    dispatcher.dispatch(utc(2027, 1, 5), redis_conn, ahead=timedelta(0))
    assert [e for _, e, _ in windows(task.id)] == [utc(2026, 12, 29), utc(2026, 12, 30),
                                                   utc(2026, 12, 31)]
    db.session.refresh(task)
    assert (task.active, task.status, task.next_run_at) == (False, "inactive", None)
    assert task.watermark == utc(2026, 12, 31)


def test_an_end_before_the_next_run_is_refused(app, make_company):
    with pytest.raises(InputError) as refused:
        new_task(make_company(), utc(2026, 12, 28, 12), ends_on="2026-12-27")
    assert "after the end date" in refused.value.fields["ends_on"]


def load(company_id: int, kind: str, *records) -> None:
    result = ingest(company_id, kind, [json.dumps(r) for r in records])
    assert result.rejected == 0, result.errors


def test_skip_when_empty_and_gzip(app, make_company, api_token, work):
    company = make_company()
    headers = api_token(company)
    client = app.test_client()
    task = client.post("/api/v1/tasks", headers=headers, json={
        **TASK, "schedule": {"kind": "monthly", "every": 1, "day": "last", "time": "06:30"},
        "options": {"skip_empty": True, "gzip": True}, "catch_up": "each",
        "ends_on": "2030-12-31"}).get_json()
    assert task["schedule"]["day"] == "last" and task["catch_up"] == "each"
    assert task["ends_on"] == "2030-12-31" and task["options"]["gzip"] is True
    run = client.post(f"/api/v1/tasks/{task['id']}/runs", headers=headers).get_json()
    work()
    run = client.get(f"/api/v1/runs/{run['id']}", headers=headers).get_json()
    assert run["status"] == "empty" and run["deliveries"] == [] and run["row_count"] == 0
    assert run["file_name"].endswith(".csv.gz")
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0
    response = client.get(f"/api/v1/runs/{run['id']}/csv", headers=headers)
    assert response.mimetype == "application/gzip"
    assert gzip.decompress(response.get_data()).startswith(b"company,channel,room_id")
    response.close()
    # with rows, the email goes out as always
    load(company.id, "rooms", {"id": "r1", "channel": "sms", "name": "Desk", "type": "group"})
    load(company.id, "accounts", {"id": "a1", "channel": "sms", "identifier": "+1"})
    load(company.id, "messages", {"id": "m1", "room_id": "r1", "account_id": "a1",
                                  "direction": "sent",
                                  "sent_at": datetime.now(UTC).isoformat()})
    run = client.post(f"/api/v1/tasks/{task['id']}/runs", headers=headers).get_json()
    work()
    run = client.get(f"/api/v1/runs/{run['id']}", headers=headers).get_json()
    assert run["status"] == "succeeded" and run["row_count"] == 1
    assert [d["status"] for d in run["deliveries"]] == ["sent"]


def test_preview_with_last_day_and_an_end(app, make_company, api_token):
    company = make_company()
    client = app.test_client()
    response = client.get("/api/v1/schedules/preview", headers=api_token(company), query_string={
        "kind": "monthly", "every": 1, "day": "last", "time": "06:30", "count": 5,
        "after": "2027-12-15T00:00:00+00:00", "ends_on": "2028-02-29"})
    assert response.status_code == 200
    runs = response.get_json()["runs"]
    assert [r["run_at"][:10] for r in runs] == ["2027-12-31", "2028-01-31", "2028-02-29"]
    assert runs[1]["window_start"] == runs[0]["window_end"]
    bad = client.get("/api/v1/schedules/preview", headers=api_token(company), query_string={
        "kind": "monthly", "every": 1, "day": "31", "time": "06:30"})
    assert bad.status_code == 422 and "last" in bad.get_json()["error"]["fields"]["day"]
