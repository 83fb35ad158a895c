"""Every report type on one dataset with edges — messages exactly on the window's bounds,
idle accounts, rooms in sub-units, another company's data under the same source ids, a room
named like a formula — compared with the exact CSV it must produce."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from jobs.reports import registry
from jobs.reports.base import BuildContext
from jobs.reports.csv import write_report
from webapp.services.ingest import ingest

from .reference_csv import write_reference

START = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # 2026-03-29 00:00 London (GMT)
END = datetime(2026, 3, 30, 22, 0, tzinfo=UTC)  # 2026-03-30 23:00 BST: the clocks moved on
NOW = END  # snapshots are taken at the run time, which the runner passes as both window ends
LONDON = ZoneInfo("Europe/London")


def dataset(org: str) -> dict[str, list[dict]]:
    """The same source ids for every company; ``org`` only changes names, so that another
    company's rows would show if they leaked."""
    domain = org.rstrip("-") or "acme"
    return {
        "org-units": [
            {"id": "ou-markets", "name": f"{org}Markets", "parent_id": None},
            {"id": "ou-equities", "name": f"{org}Equities", "parent_id": "ou-markets"},
            {"id": "ou-desk", "name": f"{org}Desk A", "parent_id": "ou-equities"},
            {"id": "ou-wealth", "name": f"{org}Wealth", "parent_id": None},
        ],
        "users": [
            {"id": "u-alice", "email": f"alice@{domain}.example", "name": "Alice Ng",
             "org_unit_id": "ou-equities"},
            {"id": "u-bob", "email": f"bob@{domain}.example", "name": "Bob Li",
             "org_unit_id": "ou-desk"},
            {"id": "u-carol", "email": f"carol@{domain}.example", "name": "Carol Diaz",
             "org_unit_id": "ou-wealth"},
        ],
        "accounts": [
            {"id": "a-wa-alice", "channel": "whatsapp", "identifier": "+447700900001",
             "user_id": "u-alice", "status": "connected",
             "status_since": "2026-01-10T09:00:00+00:00",
             "last_activity_at": "2026-03-01T10:00:00+00:00"},
            {"id": "a-wa-bob", "channel": "whatsapp", "identifier": "+447700900002",
             "user_id": "u-bob", "status": "disconnected",
             "status_since": "2026-03-20T08:30:00+00:00",
             "last_activity_at": "2026-03-16T22:00:00+00:00"},  # exactly 14 days
            {"id": "a-wa-spare", "channel": "whatsapp", "identifier": "+447700900003",
             "user_id": None, "status": "pending", "status_since": None,
             "last_activity_at": None},  # never active, no owner
            {"id": "a-im-alice", "channel": "imessage", "identifier": "alice.ng@icloud.example",
             "user_id": "u-alice", "status": "error",
             "status_since": "2026-03-29T12:00:00+01:00",
             "last_activity_at": "2026-03-30T09:00:00+01:00"},
            {"id": "a-sms-carol", "channel": "sms", "identifier": "+447700900004",
             "user_id": "u-carol", "status": "connected",
             "status_since": "2025-12-01T00:00:00+00:00", "last_activity_at": None},
            {"id": "a-wecom-bob", "channel": "wecom", "identifier": "bob.li.wecom",
             "user_id": "u-bob", "status": "connected", "status_since": None,
             "last_activity_at": None},
        ],
        "rooms": [
            {"id": "r-client-a", "channel": "whatsapp", "name": "Client A", "type": "direct",
             "org_unit_id": "ou-equities", "owner_user_id": "u-alice",
             "created_at": "2025-06-01T12:00:00+01:00", "participants": 2,
             "internal_participants": 1, "external_participants": 1},
            {"id": "r-formula", "channel": "whatsapp", "name": '=HYPERLINK("x")',
             "type": "group", "org_unit_id": "ou-desk", "owner_user_id": "u-bob",
             "created_at": "2026-02-01T08:00:00+00:00", "participants": 5,
             "internal_participants": 2, "external_participants": 3},
            {"id": "r-sms", "channel": "sms", "name": "Quiet, \"SMS\" room", "type": "direct",
             "org_unit_id": None, "owner_user_id": "u-carol", "created_at": None,
             "participants": 2, "internal_participants": 1, "external_participants": 1},
            {"id": "r-imessage", "channel": "imessage", "name": "Deal team", "type": "group",
             "org_unit_id": "ou-wealth", "owner_user_id": None, "governed": False,
             "created_at": "2026-03-01T09:00:00+00:00", "participants": 3,
             "internal_participants": 3, "external_participants": 0},
            {"id": "r-wecom-desk", "channel": "wecom", "name": "WeCom desk", "type": "group",
             "org_unit_id": "ou-desk", "owner_user_id": "u-bob",
             "created_at": "2026-03-02T09:00:00+08:00", "participants": 4,
             "internal_participants": 1, "external_participants": 3},
            {"id": "r-wecom-wealth", "channel": "wecom", "name": "WeCom wealth",
             "type": "direct", "org_unit_id": "ou-wealth", "owner_user_id": None,
             "created_at": None, "participants": 2, "internal_participants": 1,
             "external_participants": 1},
        ],
        "messages": [
            # on the bounds: the start is outside the window, the end inside
            {"id": "m-at-start", "room_id": "r-client-a", "account_id": "a-wa-alice",
             "direction": "sent", "sent_at": "2026-03-29T00:00:00+00:00"},
            {"id": "m-at-end", "room_id": "r-client-a", "account_id": "a-wa-alice",
             "direction": "received", "sent_at": "2026-03-30T23:00:00+01:00"},
            {"id": "m-after-end", "room_id": "r-client-a", "account_id": "a-wa-alice",
             "direction": "sent", "sent_at": "2026-03-30T23:00:01+01:00"},
            {"id": "m-1", "room_id": "r-client-a", "account_id": "a-wa-alice",
             "direction": "sent", "sent_at": "2026-03-29T00:00:01+00:00"},
            {"id": "m-2", "room_id": "r-formula", "account_id": "a-wa-bob",
             "direction": "received", "sent_at": "2026-03-29T10:00:00+01:00"},
            {"id": "m-3", "room_id": "r-formula", "account_id": "a-wa-bob",
             "direction": "received", "sent_at": "2026-03-29T11:00:00+01:00"},
            {"id": "m-4", "room_id": "r-formula", "account_id": "a-wa-bob",
             "direction": "sent", "sent_at": "2026-03-30T11:00:00+01:00"},
            {"id": "m-5", "room_id": "r-imessage", "account_id": "a-im-alice",
             "direction": "sent", "sent_at": "2026-03-30T12:00:00+01:00"},
            {"id": "m-old", "room_id": "r-sms", "account_id": "a-sms-carol",
             "direction": "sent", "sent_at": "2026-03-10T12:00:00+00:00"},
            {"id": "m-wecom", "room_id": "r-wecom-desk", "account_id": "a-wecom-bob",
             "direction": "sent", "sent_at": "2026-03-29T09:00:00+00:00"},
        ],
        "violations": [
            {"id": "v-1", "room_id": "r-formula", "user_id": "u-bob", "type": "dlp",
             "policy": "Card numbers", "action": "blocked",
             "occurred_at": "2026-03-29T00:30:00+00:00"},
            {"id": "v-2", "room_id": "r-formula", "user_id": "u-bob", "type": "dlp",
             "policy": "Card numbers", "action": "flagged",
             "occurred_at": "2026-03-29T23:59:59+01:00"},
            # the next local day, although the same UTC day as v-2
            {"id": "v-3", "room_id": "r-formula", "user_id": "u-bob", "type": "dlp",
             "policy": "Card numbers", "action": "blocked",
             "occurred_at": "2026-03-30T00:00:00+01:00"},
            {"id": "v-4", "room_id": "r-client-a", "user_id": None, "type": "room_condition",
             "policy": "External guest joined", "action": "flagged",
             "occurred_at": "2026-03-30T23:00:00+01:00"},  # exactly the end
            {"id": "v-start", "room_id": "r-client-a", "user_id": "u-alice", "type": "dlp",
             "policy": "Card numbers", "action": "blocked",
             "occurred_at": "2026-03-29T00:00:00+00:00"},  # exactly the start: out
            {"id": "v-wecom", "room_id": "r-wecom-desk", "user_id": "u-bob", "type": "dlp",
             "policy": "-Profanity", "action": "flagged",
             "occurred_at": "2026-03-29T12:00:00+01:00"},
        ],
        "irregularities": [
            {"id": "i-1", "channel": "whatsapp", "account_id": "a-wa-bob",
             "event_type": "disconnected", "description": "Phone logged out",
             "archiving_stopped": True, "occurred_at": "2026-03-29T08:30:00+01:00"},
            {"id": "i-2", "channel": "imessage", "account_id": "a-im-alice",
             "event_type": "sync_delayed", "description": "+1 hour behind",
             "archiving_stopped": False, "occurred_at": "2026-03-30T23:00:00+01:00"},
            {"id": "i-start", "channel": "whatsapp", "account_id": "a-wa-alice",
             "event_type": "disconnected", "description": "at the start",
             "archiving_stopped": True, "occurred_at": "2026-03-29T00:00:00+00:00"},
            {"id": "i-w1", "channel": "wecom", "room_id": "r-wecom-desk",
             "event_type": "anonymous_contact", "contact": "wx-anon-1",
             "description": "Contact hid their identity",
             "occurred_at": "2026-03-29T10:00:00+08:00"},
            {"id": "i-w2", "channel": "wecom", "room_id": "r-wecom-wealth",
             "event_type": "unusual_client_status", "contact": "Ms Zhang",
             "description": "Client deleted the chat",
             "occurred_at": "2026-03-29T11:00:00+08:00"},
            {"id": "i-w3", "channel": "wecom", "org_unit_id": "ou-equities",
             "event_type": "group_messages_not_archived", "contact": None,
             "description": "=cmd|' /C calc'!A0",
             "occurred_at": "2026-03-30T12:00:00+08:00"},
        ],
        "export-emails": [
            {"id": "x-1", "room_id": "r-client-a", "messages": 3,
             "archive_address": "archive@vault.example", "email_message_id": "<x1@herald>",
             "size_bytes": 20480, "status": "sent", "smtp_response": "250 2.0.0 OK",
             "exported_at": "2026-03-29T06:00:00+01:00"},
            {"id": "x-2", "room_id": "r-formula", "messages": 2,
             "archive_address": "archive@vault.example", "email_message_id": "<x2@herald>",
             "size_bytes": 1024, "status": "failed",
             "smtp_response": "552 5.3.4 Message size exceeds fixed limit",
             "exported_at": "2026-03-30T06:00:00+01:00"},
            {"id": "x-3", "room_id": "r-wecom-desk", "messages": 1,
             "archive_address": "archive@vault.example", "email_message_id": "<x3@herald>",
             "size_bytes": 900, "status": "sent", "smtp_response": "250 OK",
             "exported_at": "2026-03-30T07:00:00+01:00"},
            {"id": "x-old", "room_id": "r-sms", "messages": 9,
             "archive_address": "archive@vault.example", "email_message_id": "<x0@herald>",
             "size_bytes": 5, "status": "sent", "smtp_response": "250 OK",
             "exported_at": "2026-03-20T07:00:00+00:00"},
        ],
    }


def load(company, records: dict[str, list[dict]]) -> None:
    for kind, rows in records.items():
        result = ingest(company.id, kind, [json.dumps(r) for r in rows])
        assert result.rejected == 0, (kind, result.errors)


@pytest.fixture
def acme(make_company):
    company = make_company("Acme Bank")
    other = make_company("Other Corp")
    load(company, dataset(""))
    load(other, dataset("other-"))
    # the other company's data is busier, so a leak would also change the counts
    load(other, {"messages": [
        {"id": f"o-{i}", "room_id": "r-client-a", "account_id": "a-wa-alice",
         "direction": "sent", "sent_at": "2026-03-29T12:00:00+00:00"} for i in range(3)]})
    return company


def build(company, key: str, channels=None, tz: ZoneInfo = LONDON, options=None,
          tmp_path=None, excel_bom=False) -> str:
    from webapp.extensions import db

    rtype = registry.get(key)
    ctx = BuildContext(company_id=company.id, company_name=company.name,
                       channels=tuple(channels or rtype.channels),
                       window_start=NOW if rtype.snapshot else START, window_end=END,
                       timezone=tz, options=dict(options or {}))
    path, reference = tmp_path / f"{key}.csv", tmp_path / f"{key}.reference.csv"
    built = write_report(str(path), db.session, rtype, ctx, excel_bom=excel_bom)
    # every case is also one of the byte-identity test: the reference writer agrees
    assert write_reference(str(reference), db.session, rtype, ctx, excel_bom) == built
    assert path.read_bytes() == reference.read_bytes()
    return path.read_bytes().decode("utf-8")


def csv_text(*lines: str) -> str:
    return "".join(line + "\r\n" for line in lines)


def test_native_connection_status(acme, tmp_path):
    assert build(acme, "native_connection_status", tmp_path=tmp_path) == csv_text(
        "company,channel,phone_number,user_email,user_name,org_unit,status,status_since,"
        "last_activity_at",
        "Acme Bank,imessage,alice.ng@icloud.example,alice@acme.example,Alice Ng,Equities,"
        "error,2026-03-29T12:00:00+01:00,2026-03-30T09:00:00+01:00",
        "Acme Bank,whatsapp,+447700900001,alice@acme.example,Alice Ng,Equities,connected,"
        "2026-01-10T09:00:00+00:00,2026-03-01T10:00:00+00:00",
        "Acme Bank,whatsapp,+447700900002,bob@acme.example,Bob Li,Desk A,disconnected,"
        "2026-03-20T08:30:00+00:00,2026-03-16T22:00:00+00:00",
        "Acme Bank,whatsapp,+447700900003,,,,pending,,",
    )


def test_native_connection_status_one_channel_in_another_zone(acme, tmp_path):
    assert build(acme, "native_connection_status", channels=["imessage"],
                 tz=ZoneInfo("America/New_York"), tmp_path=tmp_path) == csv_text(
        "company,channel,phone_number,user_email,user_name,org_unit,status,status_since,"
        "last_activity_at",
        "Acme Bank,imessage,alice.ng@icloud.example,alice@acme.example,Alice Ng,Equities,"
        "error,2026-03-29T07:00:00-04:00,2026-03-30T04:00:00-04:00",
    )


def test_whatsapp_inactivity_default_threshold(acme, tmp_path):
    # Alice's number has messages up to the run: active. Bob's last message (m-4, 30 Mar)
    # is newer than his recorded activity: active. The spare number was never active.
    assert build(acme, "whatsapp_inactivity", tmp_path=tmp_path) == csv_text(
        "company,phone_number,user_email,user_name,org_unit,status,last_activity_at,"
        "inactive_days",
        "Acme Bank,+447700900003,,,,pending,,",
    )


def test_whatsapp_inactivity_threshold_counts_whole_days(acme, tmp_path):
    from webapp.extensions import db
    from webapp.models import Message

    db.session.query(Message).filter(Message.company_id == acme.id,
                                      Message.external_id.in_(["m-2", "m-3", "m-4"])).delete()
    db.session.commit()
    # Bob: recorded activity 16 Mar 22:00 UTC, the run at 30 Mar 22:00 UTC: exactly 14 days.
    expected_bob = ("Acme Bank,+447700900002,bob@acme.example,Bob Li,Desk A,disconnected,"
                    "2026-03-16T22:00:00+00:00,14")
    header = ("company,phone_number,user_email,user_name,org_unit,status,last_activity_at,"
              "inactive_days")
    spare = "Acme Bank,+447700900003,,,,pending,,"
    assert build(acme, "whatsapp_inactivity", tmp_path=tmp_path,
                 options={"inactivity_days": 14}) == csv_text(header, expected_bob, spare)
    assert build(acme, "whatsapp_inactivity", tmp_path=tmp_path,
                 options={"inactivity_days": 15}) == csv_text(header, spare)


def test_usage_by_rooms(acme, tmp_path):
    # r-client-a: m-1 (sent) and m-at-end (received); m-at-start and m-after-end are out.
    assert build(acme, "usage_by_rooms", tmp_path=tmp_path) == csv_text(
        "company,channel,room_id,room_name,room_type,org_unit,messages_sent,"
        "messages_received,messages_total",
        "Acme Bank,imessage,r-imessage,Deal team,group,Wealth,1,0,1",
        "Acme Bank,whatsapp,r-client-a,Client A,direct,Equities,1,1,2",
        "Acme Bank,whatsapp,r-formula,\"'=HYPERLINK(\"\"x\"\")\",group,Desk A,1,2,3",
    )


def test_usage_by_rooms_selected_channels_only(acme, tmp_path):
    assert build(acme, "usage_by_rooms", channels=["sms"], tmp_path=tmp_path) == csv_text(
        "company,channel,room_id,room_name,room_type,org_unit,messages_sent,"
        "messages_received,messages_total",
    )


def test_usage_by_users(acme, tmp_path):
    assert build(acme, "usage_by_users", tmp_path=tmp_path) == csv_text(
        "company,channel,user_email,user_name,org_unit,phone_number,messages_sent,"
        "messages_received,messages_total",
        "Acme Bank,imessage,alice@acme.example,Alice Ng,Equities,alice.ng@icloud.example,1,0,1",
        "Acme Bank,sms,carol@acme.example,Carol Diaz,Wealth,+447700900004,0,0,0",
        "Acme Bank,whatsapp,,,,+447700900003,0,0,0",
        "Acme Bank,whatsapp,alice@acme.example,Alice Ng,Equities,+447700900001,1,1,2",
        "Acme Bank,whatsapp,bob@acme.example,Bob Li,Desk A,+447700900002,1,2,3",
    )


def test_communication_compliance_per_local_day(acme, tmp_path):
    assert build(acme, "communication_compliance", tmp_path=tmp_path) == csv_text(
        "company,date,channel,violation_type,policy,room_id,room_name,user_email,violations,"
        "blocked,flagged",
        "Acme Bank,2026-03-29,wecom,dlp,'-Profanity,r-wecom-desk,WeCom desk,bob@acme.example,"
        "1,0,1",
        "Acme Bank,2026-03-29,whatsapp,dlp,Card numbers,r-formula,\"'=HYPERLINK(\"\"x\"\")\","
        "bob@acme.example,2,1,1",
        "Acme Bank,2026-03-30,whatsapp,dlp,Card numbers,r-formula,\"'=HYPERLINK(\"\"x\"\")\","
        "bob@acme.example,1,1,0",
        "Acme Bank,2026-03-30,whatsapp,room_condition,External guest joined,r-client-a,"
        "Client A,,1,0,1",
    )


def test_communication_compliance_days_follow_the_task_zone(acme, tmp_path):
    # In Tokyo (UTC+9) v-1 (00:30 UTC 29 Mar) is 29 Mar 09:30; v-2 and v-3 (22:59:59 and
    # 23:00 UTC 29 Mar) are both on 30 Mar; v-4 (22:00 UTC 30 Mar) is 31 Mar 07:00.
    assert build(acme, "communication_compliance", channels=["whatsapp"],
                 tz=ZoneInfo("Asia/Tokyo"), tmp_path=tmp_path) == csv_text(
        "company,date,channel,violation_type,policy,room_id,room_name,user_email,violations,"
        "blocked,flagged",
        "Acme Bank,2026-03-29,whatsapp,dlp,Card numbers,r-formula,\"'=HYPERLINK(\"\"x\"\")\","
        "bob@acme.example,1,1,0",
        "Acme Bank,2026-03-30,whatsapp,dlp,Card numbers,r-formula,\"'=HYPERLINK(\"\"x\"\")\","
        "bob@acme.example,2,1,1",
        "Acme Bank,2026-03-31,whatsapp,room_condition,External guest joined,r-client-a,"
        "Client A,,1,0,1",
    )


def test_native_irregularities(acme, tmp_path):
    assert build(acme, "native_irregularities", tmp_path=tmp_path) == csv_text(
        "company,occurred_at,channel,phone_number,user_email,event_type,description,"
        "archiving_stopped",
        "Acme Bank,2026-03-29T08:30:00+01:00,whatsapp,+447700900002,bob@acme.example,"
        "disconnected,Phone logged out,true",
        "Acme Bank,2026-03-30T23:00:00+01:00,imessage,alice.ng@icloud.example,"
        "alice@acme.example,sync_delayed,'+1 hour behind,false",
    )


WECOM_HEADER = "company,occurred_at,org_unit,room_id,room_name,event_type,contact,details"
W1 = ("Acme Bank,2026-03-29T03:00:00+01:00,Desk A,r-wecom-desk,WeCom desk,anonymous_contact,"
      "wx-anon-1,Contact hid their identity")
W2 = ("Acme Bank,2026-03-29T04:00:00+01:00,Wealth,r-wecom-wealth,WeCom wealth,"
      "unusual_client_status,Ms Zhang,Client deleted the chat")
W3 = ("Acme Bank,2026-03-30T05:00:00+01:00,Equities,,,group_messages_not_archived,,"
      "'=cmd|' /C calc'!A0")


def test_wecom_irregularities(acme, tmp_path):
    assert build(acme, "wecom_irregularities", tmp_path=tmp_path) == csv_text(
        WECOM_HEADER, W1, W2, W3)


def test_wecom_irregularities_org_units_with_their_sub_units(acme, tmp_path):
    # Markets holds Equities, which holds Desk A; Wealth is elsewhere.
    assert build(acme, "wecom_irregularities", tmp_path=tmp_path,
                 options={"org_unit_ids": ["ou-markets"]}) == csv_text(WECOM_HEADER, W1, W3)
    assert build(acme, "wecom_irregularities", tmp_path=tmp_path,
                 options={"org_unit_ids": ["ou-desk", "ou-wealth"]}) == csv_text(
        WECOM_HEADER, W1, W2)
    assert build(acme, "wecom_irregularities", tmp_path=tmp_path,
                 options={"org_unit_ids": ["no-such-unit"]}) == csv_text(WECOM_HEADER)


def test_archive_export_email_summary_and_its_summary_line(acme, tmp_path):
    from webapp.extensions import db

    assert build(acme, "archive_export_email_summary", tmp_path=tmp_path) == csv_text(
        "company,exported_at,channel,room_id,room_name,messages,archive_address,"
        "email_message_id,size_bytes,status,smtp_response",
        "Acme Bank,2026-03-29T06:00:00+01:00,whatsapp,r-client-a,Client A,3,"
        "archive@vault.example,<x1@herald>,20480,sent,250 2.0.0 OK",
        "Acme Bank,2026-03-30T06:00:00+01:00,whatsapp,r-formula,\"'=HYPERLINK(\"\"x\"\")\",2,"
        "archive@vault.example,<x2@herald>,1024,failed,552 5.3.4 Message size exceeds fixed "
        "limit",
        "Acme Bank,2026-03-30T07:00:00+01:00,wecom,r-wecom-desk,WeCom desk,1,"
        "archive@vault.example,<x3@herald>,900,sent,250 OK",
    )
    rtype = registry.get("archive_export_email_summary")
    ctx = BuildContext(company_id=acme.id, company_name=acme.name, channels=("whatsapp",),
                       window_start=START, window_end=END, timezone=LONDON)
    assert rtype.summary(2, db.session, ctx) == "2 export emails: 1 sent, 1 failed"


def test_room_metadata(acme, tmp_path):
    # governed rooms only (r-imessage is not); the last message up to the run (m-after-end
    # is after it)
    assert build(acme, "room_metadata", tmp_path=tmp_path) == csv_text(
        "company,channel,room_id,room_name,room_type,org_unit,created_at,owner_email,"
        "participants,internal_participants,external_participants,last_message_at",
        "Acme Bank,sms,r-sms,\"Quiet, \"\"SMS\"\" room\",direct,,,carol@acme.example,2,1,1,"
        "2026-03-10T12:00:00+00:00",
        "Acme Bank,wecom,r-wecom-desk,WeCom desk,group,Desk A,2026-03-02T01:00:00+00:00,"
        "bob@acme.example,4,1,3,2026-03-29T10:00:00+01:00",
        "Acme Bank,wecom,r-wecom-wealth,WeCom wealth,direct,Wealth,,,2,1,1,",
        "Acme Bank,whatsapp,r-client-a,Client A,direct,Equities,2025-06-01T12:00:00+01:00,"
        "alice@acme.example,2,1,1,2026-03-30T23:00:00+01:00",
        "Acme Bank,whatsapp,r-formula,\"'=HYPERLINK(\"\"x\"\")\",group,Desk A,"
        "2026-02-01T08:00:00+00:00,bob@acme.example,5,2,3,2026-03-30T11:00:00+01:00",
    )


@pytest.mark.parametrize("key", [t.key for t in registry.creatable()])
def test_empty_result_is_the_header_only(make_company, tmp_path, key):
    company = make_company("Empty Ltd")
    rtype = registry.get(key)
    assert build(company, key, tmp_path=tmp_path) == csv_text(
        ",".join(("company", *rtype.columns)))


def test_excel_option_adds_a_bom(acme, tmp_path):
    text = build(acme, "usage_by_rooms", channels=["imessage"], tmp_path=tmp_path,
                 excel_bom=True)
    assert text.startswith("\ufeffcompany,channel,")
    assert text.endswith("Acme Bank,imessage,r-imessage,Deal team,group,Wealth,1,0,1\r\n")


def test_registry_lists_every_type_of_the_spec():
    assert list(registry.REPORT_TYPES) == [
        "native_connection_status", "whatsapp_inactivity", "usage_by_company",
        "usage_by_rooms", "usage_by_users", "communication_compliance",
        "native_irregularities", "wecom_irregularities", "archive_export_email_summary",
        "room_metadata"]
    assert [t.key for t in registry.REPORT_TYPES.values() if t.server_upload] == [
        "native_connection_status"]
    assert {t.key for t in registry.REPORT_TYPES.values() if t.snapshot} == {
        "native_connection_status", "whatsapp_inactivity", "room_metadata"}
