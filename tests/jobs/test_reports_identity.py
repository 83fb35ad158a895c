"""The database-rendered CSV (jobs/reports/csv.py) is byte for byte the CSV of the
reference writer (tests/jobs/reference_csv.py: every cell rendered in Python), for every
report type, on texts that start with every dangerous character or look like numbers or
almost, awkward CSV texts, times with and without microseconds, at a time zone's
transitions and in zones with half-hour or odd historical offsets, with the Excel BOM."""

from __future__ import annotations

import bisect
import csv
import io
import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.reports import registry
from jobs.reports.base import BuildContext
from jobs.reports.cells import transitions
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

from .reference_csv import write_reference

TRICKY = [
    "=1+1", "+44 7700 900001", "-x", "@SUM(A1)", "\tx", "\rx", "-5", "+1.5e3",
    "+447700900001", "a=b", "", "-", "+", "=", "@", "\t", "\r", "+.", "-.5", "+5.", "+1e",
    "+1e+", "+1E-7", "-1.2.3", "+1e5e5", "+ 5", "-5\n", "-\u0663", "-0", "+00", "--1",
    "+-1", ".5", "-e5", "+.e5", "+1.e5", "-1e-0", "x,y", 'say "hi"', "line1\nline2",
    "cr\r\nlf", " lead", "trail ", "\u00fc\u20ac\U0001f600", "'quoted", "\\.", "\\",
    '=HYPERLINK("http://x")', "-2,5", "+\u00a05", "\ufeffbom", "@@", "=-1",
]
START = datetime(2026, 3, 28, 0, 0, tzinfo=UTC)
END = datetime(2026, 3, 30, 0, 0, tzinfo=UTC)
LONDON_CHANGE = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # the clocks go forward
IN_WINDOW = [
    LONDON_CHANGE, LONDON_CHANGE - timedelta(microseconds=1),
    LONDON_CHANGE + timedelta(microseconds=500000), START + timedelta(microseconds=1), END,
    datetime(2026, 3, 28, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 29, 12, 0, 0, 100, tzinfo=UTC),
]
ANY_TIME = [
    *IN_WINDOW, datetime(1971, 6, 1, 12, 0, tzinfo=UTC),  # Monrovia was -00:44:30
    datetime(2000, 1, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 59, 59, 999999, tzinfo=UTC), datetime(2099, 7, 1, tzinfo=UTC),
]
ZONES = ["Europe/London", "America/St_Johns", "Asia/Kolkata", "UTC", "Australia/Lord_Howe",
         "Africa/Monrovia", "America/Los_Angeles"]


def tricky_data(company_id: int) -> None:
    n = len(TRICKY)
    units = [OrgUnit(company_id=company_id, external_id=f"ou{i}", name=v)
             for i, v in enumerate(TRICKY)]
    db.session.add_all(units)
    db.session.flush()
    users = [User(company_id=company_id, email=v, email_key=f"u{i}", name=TRICKY[-1 - i],
                  org_unit_id=units[i].id, external_id=f"u{i}") for i, v in enumerate(TRICKY)]
    db.session.add_all(users)
    db.session.flush()
    accounts = [Account(company_id=company_id, external_id=f"a{i}",
                        channel=("whatsapp", "imessage", "sms")[i % 3], identifier=v,
                        user_id=users[i].id if i % 5 else None, status=TRICKY[(i + 3) % n][:16],
                        status_since=ANY_TIME[i % len(ANY_TIME)] if i % 4 else None,
                        last_activity_at=ANY_TIME[(i + 5) % len(ANY_TIME)] if i % 6 else None)
                for i, v in enumerate(TRICKY)]
    rooms = [Room(company_id=company_id, external_id=f"r{i}", name=v,
                  channel=("whatsapp", "imessage", "sms", "wecom")[i % 4], type=TRICKY[i - 1][:16],
                  org_unit_id=units[(i * 7) % n].id if i % 3 else None, governed=i not in (9, 32),
                  owner_user_id=users[(i * 5) % n].id if i % 2 else None,
                  created_at=ANY_TIME[i % len(ANY_TIME)] if i % 7 else None,
                  participants=i, internal_participants=i // 2,
                  external_participants=i - i // 2) for i, v in enumerate(TRICKY)]
    db.session.add_all([*accounts, *rooms])
    db.session.flush()
    for i in range(n):
        when = IN_WINDOW[i % len(IN_WINDOW)]
        db.session.add_all([
            Message(company_id=company_id, external_id=f"m{i}", room_id=rooms[i].id,
                    account_id=accounts[(i * 3) % n].id if i % 4 else None,
                    direction=("sent", "received")[i % 2], sent_at=when),
            Violation(company_id=company_id, external_id=f"v{i}", room_id=rooms[i].id,
                      user_id=users[(i * 11) % n].id if i % 3 else None,
                      type=("dlp", "room_condition")[i % 2], policy=TRICKY[(i + 7) % n],
                      action=("blocked", "flagged")[i % 2], occurred_at=when),
            Irregularity(company_id=company_id, external_id=f"i{i}",
                         channel=("whatsapp", "imessage", "wecom")[i % 3],
                         account_id=accounts[i].id if i % 2 else None,
                         room_id=rooms[i].id if i % 3 else None,
                         org_unit_id=units[i].id if i % 4 else None,
                         event_type=TRICKY[(i + 11) % n], description=TRICKY[(i + 13) % n],
                         contact=TRICKY[(i + 17) % n] if i % 5 else None,
                         archiving_stopped=i % 2 == 0, occurred_at=when),
            ExportEmail(company_id=company_id, external_id=f"x{i}", room_id=rooms[i].id,
                        messages=i, archive_address=TRICKY[(i + 19) % n],
                        email_message_id=TRICKY[(i + 23) % n], size_bytes=i * 1000,
                        status=("sent", "failed")[i % 2], smtp_response=TRICKY[(i + 29) % n],
                        exported_at=when),
        ])
    db.session.commit()


def both(tmp_path, rtype, ctx, excel_bom=False) -> bytes:
    path, reference = tmp_path / "fast.csv", tmp_path / "reference.csv"
    built = write_report(str(path), db.session, rtype, ctx, excel_bom=excel_bom)
    expected = write_reference(str(reference), db.session, rtype, ctx, excel_bom)
    assert path.read_bytes() == reference.read_bytes()
    assert built == expected
    return path.read_bytes()


@pytest.fixture
def tricky(make_company):
    company = make_company('=HYPERLINK("x"), "Evil" 100% Co {x} %(x)s ?')
    tricky_data(company.id)
    return company


@pytest.mark.parametrize("zone", ZONES)
def test_every_report_type_matches_the_reference(tricky, tmp_path, zone):
    for rtype in registry.creatable():
        options = {"inactivity_days": 1, "org_unit_ids": ["ou1", "ou2", "ou3"]}
        for opts in (options, {}):
            ctx = BuildContext(company_id=tricky.id, company_name=tricky.name,
                               channels=rtype.channels,
                               window_start=END if rtype.snapshot else START, window_end=END,
                               timezone=ZoneInfo(zone), options=opts)
            data = both(tmp_path, rtype, ctx, excel_bom=zone == "UTC")
            assert data.count(b"\r\n") > 2, (rtype.key, data)  # rows, not just a header
            assert data.startswith(b"\xef\xbb\xbfcompany," if zone == "UTC" else b"company,")


def test_every_dangerous_first_character_is_escaped(tricky, tmp_path):
    # room names are the TRICKY texts; the expected cells spelled out for a few of them
    rtype = registry.get("room_metadata")
    ctx = BuildContext(company_id=tricky.id, company_name=tricky.name,
                       channels=rtype.channels, window_start=END, window_end=END,
                       timezone=ZoneInfo("Europe/London"))
    data = both(tmp_path, rtype, ctx).decode()
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert {row[0] for row in rows[1:]} == {"'=HYPERLINK(\"x\"), \"Evil\" 100% Co {x} %(x)s ?"}
    names = {row[3] for row in rows[1:]}
    for cell in ("'=1+1", "'-x", "'@SUM(A1)", "'\tx", "'\rx", "-5", "+1.5e3", "+447700900001",
                 "'-", "'+1e", "'-1.2.3", "'+ 5", "'-5\n", "'-\u0663", "-0", "'--1", "'+-1",
                 "+1.e5", "-1e-0", "x,y", 'say "hi"', "'-2,5", "'+\u00a05", "'=-1", "'@@",
                 "cr\r\nlf", "", "\\."):
        assert cell in names, cell
    assert ",\"say \"\"hi\"\"\"," in data and ",\"'-5\n\"," in data


@pytest.mark.parametrize("zone", ZONES)
def test_zone_transitions_agree_with_zoneinfo(zone):
    points, offsets = transitions(zone)
    tz = ZoneInfo(zone)
    assert len(offsets) == len(points) + 1
    for point, before, after in zip(points, offsets, offsets[1:], strict=False):
        at = point.replace(tzinfo=UTC)
        assert at.astimezone(tz).utcoffset().total_seconds() == after
        assert (at - timedelta(seconds=1)).astimezone(tz).utcoffset().total_seconds() == before


EXAMPLES = itertools.count()
texts = st.text(alphabet=st.sampled_from("=+-@\t\r\n.,\"'eE 0123456789x\u0663"), max_size=8)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(texts, min_size=1, max_size=40))
def test_any_text_matches_the_reference(make_company, tmp_path, names):
    company = make_company(f"Hypothesis Co {next(EXAMPLES)}")
    try:
        db.session.add_all([Room(company_id=company.id, external_id=f"h{i}", name=name,
                                 channel="sms", governed=True)
                            for i, name in enumerate(names)])
        db.session.commit()
        rtype = registry.get("room_metadata")
        ctx = BuildContext(company_id=company.id, company_name=company.name,
                           channels=("sms",), window_start=END, window_end=END,
                           timezone=ZoneInfo("UTC"))
        both(tmp_path, rtype, ctx)
    finally:
        db.session.rollback()
        db.session.execute(sa.delete(Room).where(Room.company_id == company.id))
        db.session.commit()


def test_a_statement_failing_midway_leaves_no_file_and_a_usable_session(make_company,
                                                                        tmp_path):
    from jobs.reports.base import ReportType

    company = make_company("Fails Ltd")
    db.session.add_all([Room(company_id=company.id, external_id=f"f{i}", name=f"Room {i}",
                             channel="sms", participants=i) for i in range(3000)])
    db.session.commit()

    class Failing(ReportType):
        key, columns = "failing", ("name", "n")

        def statement(self, ctx):
            if db.session.get_bind().dialect.name == "postgresql":
                n = 1 / (Room.participants - 2500)  # division by zero at the 2,501st row
            else:  # SQLite divides by zero quietly but not abs() of the smallest integer
                n = sa.func.abs(-9223372036854775807 - sa.func.max(Room.participants - 2499, 0))
            return (sa.select(Room.name, sa.cast(n, sa.Integer))
                    .where(Room.company_id == ctx.company_id).order_by(Room.participants))

    ctx = BuildContext(company_id=company.id, company_name=company.name, channels=("sms",),
                       window_start=END, window_end=END, timezone=ZoneInfo("UTC"))
    path = tmp_path / "failing.csv"
    with pytest.raises(Exception, match="division by zero|integer overflow"):
        write_report(str(path), db.session, Failing(), ctx)
    assert list(tmp_path.iterdir()) == []
    db.session.rollback()
    both(tmp_path, registry.get("room_metadata"), BuildContext(
        company_id=company.id, company_name=company.name, channels=("sms",),
        window_start=END, window_end=END, timezone=ZoneInfo("UTC")))


@pytest.mark.parametrize("zone", ["America/Recife", "Asia/Gaza", "Europe/London"])
def test_zone_transitions_miss_no_change_even_a_short_one(zone):
    # Recife had summer time for two weeks in October 2000; Gaza's rules for the 2040s
    # suspend it for Ramadan for a few weeks
    points, offsets = transitions(zone)
    tz, t = ZoneInfo(zone), datetime(1970, 1, 1, tzinfo=UTC)
    while t.year < 2100:
        naive = t.replace(tzinfo=None)
        assert offsets[bisect.bisect_right(points, naive)] == \
            t.astimezone(tz).utcoffset().total_seconds(), t
        t += timedelta(hours=7)
