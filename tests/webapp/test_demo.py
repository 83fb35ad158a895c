"""The demo generator: every record kind, plausible shapes, repeatable on one company, and
data every report type can be built from."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from jobs.reports import registry
from jobs.reports.base import BuildContext
from jobs.reports.csv import write_report
from webapp.extensions import db
from webapp.models import (
    Account,
    ExportEmail,
    Irregularity,
    Message,
    OrgUnit,
    Room,
    User,
    Violation,
)
from webapp.services.demo import seed

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def test_demo_seed_makes_every_kind_with_a_daily_rhythm(make_company):
    company = make_company("Demo Bank")
    counts = seed(company, now=NOW, days=14, messages=6000)
    db.session.commit()

    def count(model):
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(
            model.company_id == company.id))

    assert counts["messages"] == count(Message) == 6000
    for key, model in (("org_units", OrgUnit), ("accounts", Account), ("rooms", Room),
                       ("violations", Violation), ("irregularities", Irregularity),
                       ("export_emails", ExportEmail)):
        assert counts[key] == count(model) > 0, key
    assert count(User) == counts["users"] + 1  # and the admin

    # a tree of org units
    parents = db.session.scalars(sa.select(OrgUnit.parent_id).where(
        OrgUnit.company_id == company.id)).all()
    assert None in parents and any(parents)

    times = db.session.scalars(sa.select(Message.sent_at)).all()
    assert min(times) > NOW - timedelta(days=14, hours=1) and max(times) <= NOW
    london = ZoneInfo("Europe/London")
    hours = Counter(t.astimezone(london).hour for t in times)
    assert sum(hours[h] for h in range(9, 17)) > 10 * sum(hours[h] for h in range(0, 5))
    weekdays = Counter(t.astimezone(london).weekday() for t in times)
    assert weekdays[2] > 2 * weekdays[6]

    directions = Counter(db.session.scalars(sa.select(Message.direction)))
    assert directions["sent"] > 1000 and directions["received"] > 1000
    statuses = Counter(db.session.scalars(sa.select(Account.status)))
    assert len(statuses) >= 3 and statuses.most_common(1)[0][0] == "connected"
    channels = set(db.session.scalars(sa.select(Account.channel)))
    assert {"whatsapp", "imessage", "sms", "wecom"} <= channels
    assert set(db.session.scalars(sa.select(Room.type))) == {"direct", "group"}
    assert set(db.session.scalars(sa.select(Violation.type))) == {"dlp", "room_condition"}
    assert set(db.session.scalars(sa.select(ExportEmail.status))) == {"sent", "failed"}
    assert set(db.session.scalars(sa.select(Irregularity.channel))) >= {"whatsapp", "wecom"}


def test_demo_seed_twice_and_every_report_has_rows(make_company, runner, tmp_path):
    company = make_company("Demo Bank")
    slug, cid, name = company.slug, company.id, company.name
    for _ in range(2):
        result = runner.invoke(args=["demo", "seed", "--company", slug, "--days", "7",
                                     "--messages", "3000"])
        assert result.exit_code == 0, result.output
        assert "3000 messages" in result.output and "rows/s" in result.output
    assert db.session.scalar(sa.select(sa.func.count(Message.id))) == 6000

    now = datetime.now(UTC)
    for rtype in registry.creatable():
        ctx = BuildContext(company_id=cid, company_name=name, channels=rtype.channels,
                           window_start=now if rtype.snapshot else now - timedelta(days=7),
                           window_end=now, timezone=ZoneInfo("Europe/London"))
        path = tmp_path / f"{rtype.key}.csv"
        count, _size = write_report(str(path), db.session, rtype, ctx)
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert count and len(rows) == count + 1, rtype.key
        assert all(len(row) == len(rtype.columns) + 1 for row in rows)


def test_a_big_seed_rebuilds_the_message_indexes_and_keys(make_company):
    company = make_company("Demo Bank")
    seed(company, now=NOW, days=3, messages=2000, rebuild_indexes_from=1000)
    db.session.commit()
    inspector = sa.inspect(db.engine)
    assert {i["name"] for i in inspector.get_indexes("messages")} >= {
        "ix_messages_company_sent_at", "ix_messages_room_sent_at", "ix_messages_account_sent_at"}
    assert {tuple(fk["constrained_columns"]) for fk in inspector.get_foreign_keys("messages")} \
        == {("company_id",), ("room_id",), ("account_id",)}
    assert db.session.scalar(sa.select(sa.func.count(Message.id))) == 2000
