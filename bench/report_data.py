"""The data of the report build benchmark (report_build.py): two companies, one whose
reports write many rows and one whose reports read many and write few."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

WINDOW_END = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
WINDOW_START = WINDOW_END - timedelta(days=7)
CHANNELS = ("whatsapp", "imessage", "sms")
ZONE = "Europe/London"


def ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def in_window(rng: random.Random) -> str:
    span = int((WINDOW_END - WINDOW_START).total_seconds())
    return ts(WINDOW_START + timedelta(seconds=1 + rng.random() * (span - 2)))


def ids(table: str, company_id: int) -> list[int]:
    from webapp.extensions import db

    return [i for (i,) in db.session.execute(db.text(
        f"SELECT id FROM {table} WHERE company_id = :c ORDER BY id"),  # noqa: S608 - ours
        {"c": company_id})]


def load(company_id: int, rows: int, dense: bool) -> None:
    """``dense``: 10k rooms, 300 accounts, ``rows`` messages and violations, 20 org units.
    Otherwise ``rows`` of everything, one message per room and no message from an account
    (so that every account is inactive and listed)."""
    from webapp.extensions import db
    from webapp.models import Message
    from webapp.services.bulk import bulk_insert

    rng = random.Random(company_id)
    n_rooms, n_accounts = (10_000, 300) if dense else (rows, rows)
    bulk_insert("org_units", ("company_id", "external_id", "name", "parent_id"),
                [(company_id, f"ou{i}", f"Unit {i}", None) for i in range(20)])
    units = ids("org_units", company_id)
    bulk_insert("users", ("company_id", "external_id", "email", "email_key", "name",
                          "org_unit_id", "is_group", "active", "created_at"),
                ((company_id, f"u{i}", f"user{i}@bench.example", f"user{i}@bench.example",
                  f"User {i}", units[i % 20], False, True, ts(WINDOW_START))
                 for i in range(1000)), plain=True)
    users = ids("users", company_id)
    bulk_insert("accounts", ("company_id", "external_id", "channel", "identifier", "user_id",
                             "status", "status_since", "last_activity_at"),
                ((company_id, f"a{i}", "whatsapp" if dense and i % 3 else CHANNELS[0],
                  f"+4477{i:08d}", users[i % 1000], "connected", ts(WINDOW_START),
                  ts(WINDOW_START - timedelta(days=30, seconds=i)))
                 for i in range(n_accounts)), plain=True)
    bulk_insert("rooms", ("company_id", "external_id", "channel", "name", "type",
                          "org_unit_id", "governed", "owner_user_id", "created_at",
                          "participants", "internal_participants", "external_participants"),
                ((company_id, f"room-{i:07d}", CHANNELS[i % 3], f"Room {i} - desk",
                  "group" if i % 4 == 0 else "direct", units[i % 20], True, users[i % 1000],
                  ts(WINDOW_START - timedelta(days=i % 900, seconds=i)), 2, 1, 1)
                 for i in range(n_rooms)), plain=True)
    rooms, accounts = ids("rooms", company_id), ids("accounts", company_id)
    connection = db.session.connection()
    indexes = list(Message.__table__.indexes)
    for index in indexes:
        index.drop(connection)
    bulk_insert("messages", ("company_id", "external_id", "room_id", "account_id",
                             "direction", "sent_at"),
                ((company_id, f"m{n:09d}", rng.choice(rooms) if dense else rooms[n],
                  rng.choice(accounts) if dense else None, "sent" if n % 9 < 4 else "received",
                  in_window(rng))
                 for n in range(rows)), plain=dense)
    for index in indexes:
        index.create(connection)
    groups = 1000 if dense else rows
    bulk_insert("violations", ("company_id", "external_id", "room_id", "user_id", "type",
                               "policy", "action", "occurred_at"),
                ((company_id, f"v{n}", rooms[n % groups % len(rooms)], users[n % 1000],
                  "dlp" if n % 2 else "room_condition", f"Policy {n % groups}",
                  "blocked" if n % 3 else "flagged", in_window(rng))
                 for n in range(rows)), plain=True)
    if dense:
        return
    bulk_insert("irregularities", ("company_id", "external_id", "channel", "account_id",
                                   "event_type", "description", "archiving_stopped",
                                   "occurred_at"),
                ((company_id, f"i{n}", ("whatsapp", "imessage")[n % 2], accounts[n],
                  "disconnected", f"Phone {n} logged out", n % 2 == 0, in_window(rng))
                 for n in range(rows)), plain=True)
    bulk_insert("irregularities", ("company_id", "external_id", "channel", "room_id",
                                   "event_type", "description", "contact",
                                   "archiving_stopped", "occurred_at"),
                ((company_id, f"w{n}", "wecom", rooms[n], "anonymous_contact",
                  f"Contact {n} hid their identity", f"wx-{n}", False, in_window(rng))
                 for n in range(rows)), plain=True)
    bulk_insert("export_emails", ("company_id", "external_id", "room_id", "messages",
                                  "archive_address", "email_message_id", "size_bytes",
                                  "status", "smtp_response", "exported_at"),
                ((company_id, f"x{n}", rooms[n], n % 50, "archive@vault.example",
                  f"<x{n}@herald>", n * 10, "sent" if n % 7 else "failed", "250 2.0.0 OK",
                  in_window(rng))
                 for n in range(rows)), plain=True)
