"""The API lists' fast dump (webapp/schemas/fast.py) gives marshmallow's dictionary, value for
value, for tasks, runs with deliveries and audit events of every shape the lists show."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from marshmallow import Schema, fields, missing, post_dump

from webapp.extensions import db
from webapp.models import AuditEvent, Delivery, Run, Task
from webapp.schemas.fast import dumper
from webapp.schemas.fields import derived
from webapp.services import lists
from webapp.views.api.audit import AUDIT_PAGE
from webapp.views.api.runs import RUN_PAGE
from webapp.views.api.tasks import TASK_PAGE

NOW = datetime(2026, 11, 30, 6, 30, tzinfo=UTC)
SERVER = {"transport": "sftp", "host": "files.example", "port": 22, "username": "u",
          "password": "Secret-1", "directory": "/in", "fingerprint": "SHA256:" + "x" * 43}


def same(schema, obj) -> None:
    fast, slow = dumper(schema)(obj), schema.dump(obj)
    assert fast == slow
    assert list(fast) == list(slow)  # and in the same order


def test_task_pages_runs_and_audit_events_dump_as_marshmallow_does(app, make_company):
    company = make_company("Acme Bank")
    kinds = [dict(schedule_kind="daily", schedule_time="06:30"),
             dict(schedule_kind="weekly", schedule_time="23:15", schedule_weekday=4),
             dict(schedule_kind="monthly", schedule_time="00:00", schedule_day=31),
             dict(schedule_kind="hourly", schedule_time="00:05", schedule_every=3)]
    tasks = [Task(company_id=company.id, name=f"Task {n} ünï <b>", report_type="usage_by_rooms",
                  channels=["whatsapp", "sms"][: 1 + n % 2], timezone=("Europe/London",
                  "America/New_York", "Asia/Kolkata")[n % 3],
                  options={} if n % 2 else {"inactivity_days": 7, "excel_bom": True,
                                            "org_unit_ids": ["a", "b"], "spread_minutes": 5},
                  active=n % 3 != 0, status="scheduled" if n % 3 else "inactive",
                  next_run_at=None if n == 0 else NOW + timedelta(hours=n),
                  ends_on=date(2027, 1, n + 1) if n % 2 else None,
                  server=SERVER if n == 3 else None, **kinds[n % len(kinds)])
             for n in range(8)]
    db.session.add_all(tasks)
    db.session.commit()
    for n, task in enumerate(tasks[1:], 1):
        run = Run(company_id=company.id, task_id=task.id, trigger="manual",
                  window_start=NOW - timedelta(days=1), window_end=NOW, status=(
                      "succeeded", "failed", "queued")[n % 3], scheduled_for=NOW if n % 2
                  else None, started_at=NOW, finished_at=NOW + timedelta(seconds=n) if n % 3
                  else None, row_count=n * 10 if n % 2 else None, summary="1 row" if n % 2
                  else None, error="boom" if n % 3 == 1 else None, file_name=f"r{n}.csv")
        db.session.add(run)
        db.session.flush()
        db.session.add_all([
            Delivery(company_id=company.id, run_id=run.id, kind="email", target=f"a{n}@x.example",
                     status=("sent", "sending", "failed")[n % 3], attempts=n % 3,
                     delivered_at=NOW if n % 3 == 0 else None,
                     next_attempt_at=NOW + timedelta(minutes=5) if n % 3 == 2 else None),
            Delivery(company_id=company.id, run_id=run.id, kind="server", target="files.example",
                     error="refused" if n % 2 else None)])
        if n == 2:
            db.session.add(Run(company_id=company.id, task_id=task.id, trigger="scheduled",
                               window_start=NOW, window_end=NOW, status="running",
                               retry_of_id=run.id, attempt=2))
        db.session.add(AuditEvent(company_id=company.id, user_id=None, actor="system",
                                  action="task.update", result="ok" if n % 2 else "error",
                                  target_type="task", target_id=task.id, target_name=task.name,
                                  details={"changed": {"name": {"from": "a", "to": "b"}}}
                                  if n % 2 else None, remote_addr=None if n % 2 else "::1",
                                  at=NOW + timedelta(seconds=n)))
    db.session.commit()

    page = lists.tasks(company.id, lists.task_query(False, {}))
    assert len(page.items) == 8 and any(t.last_run for t in page.items)
    same(TASK_PAGE, {"tasks": page.items, "next_cursor": page.next_cursor})
    same(TASK_PAGE, {"tasks": [], "next_cursor": "12"})
    for task in tasks[1:4]:
        runs = lists.runs(task, {}, deliveries=True)
        assert runs.items
        same(RUN_PAGE, {"runs": runs.items, "next_cursor": runs.next_cursor})
    events = db.session.query(AuditEvent).filter_by(company_id=company.id).all()
    assert len(events) >= 7
    same(AUDIT_PAGE, {"events": events, "next_cursor": None})


def test_what_it_does_not_know_goes_through_marshmallow():
    class Inner(Schema):
        n = fields.Integer(dump_default=5)
        s = fields.String(attribute="a.b")

        @post_dump
        def mark(self, data, **kwargs):
            return {**data, "hooked": True}

    class Outer(Schema):
        inner = fields.Nested(Inner, allow_none=True)
        many = fields.List(fields.Nested(Inner))
        as_text = fields.Integer(as_string=True)
        other = fields.Float()

    class Record:
        inner = {"a": {"b": 1}}
        many = [{}, {"n": None, "a": {"b": "x"}}]
        as_text = 7
        other = 2

    same(Outer(), Record())
    same(Outer(), {"inner": None, "many": [], "as_text": 1, "other": 1.5})
    same(Outer(), {"many": []})  # keys the mapping lacks are left out, as marshmallow does


def test_subclasses_derived_values_and_own_accessors_dump_as_marshmallow_does():
    class Text(fields.String):
        pass

    class Shouted(fields.String):
        def _serialize(self, value, attr, obj, **kwargs):
            return None if value is None else str(value).upper()

    class Plain(Schema):
        text = Text()
        shouted = Shouted()
        count = fields.Integer()
        twice = derived(fields.Integer(), lambda r: 2 * len(type(r).__name__))
        gone = derived(fields.String(), lambda r: missing)

    class Keyed(Plain):
        def get_attribute(self, obj, attr, default):
            return f"{attr}!" if attr == "text" else super().get_attribute(obj, attr, default)

    class Record:
        text, shouted, count = 12, "quiet", "7"

    class Bare:
        pass

    class Shadowed:  # a property comes before what the instance's __dict__ holds
        def __init__(self):
            self.__dict__.update(text="hidden", count=1)

        @property
        def text(self):
            return "shown"

    for schema in (Plain(), Keyed()):
        same(schema, Record())
        same(schema, {"text": "a", "shouted": None, "count": None})
        same(schema, Bare())
        same(schema, Shadowed())
