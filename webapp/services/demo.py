"""Demo communications data for a company (docs/product.md §7): an org-unit tree, people, corporate
numbers on several channels (some disconnected, some idle for weeks), direct and group
rooms, messages in both directions with a daily and weekly rhythm in the company's time
zone, DLP and room-condition violations, irregularities per channel, and archive export
emails with some failures.

Everything is inserted in bulk: messages through the driver directly (``executemany`` on
SQLite, ``COPY`` on PostgreSQL), with their times formatted once per hour slot, so that ten
million messages take minutes."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ..extensions import db
from ..models import Account, Company, Message, OrgUnit, Room, User
from ..models.users import email_key
from . import demo_vocabulary as vocab
from .bulk import CHUNK, bulk_insert
from .bulk import db_time as _ts
from .demo_vocabulary import Plan

REBUILD_INDEXES_FROM = 500_000  # messages


def _weighted(rng: random.Random, mix) -> str:
    return rng.choices([k for k, _ in mix], [w for _, w in mix])[0]


def _ids(model, company_id: int, prefix: str) -> dict[str, int]:
    return dict(db.session.execute(sa.select(model.external_id, model.id).where(
        model.company_id == company_id, model.external_id.startswith(prefix))).all())


def _prefix(company: Company) -> str:
    """Source ids of this seed: ``demo-`` the first time, ``demo2-`` … after that."""
    taken = set(db.session.scalars(sa.select(OrgUnit.external_id).where(
        OrgUnit.company_id == company.id, OrgUnit.external_id.like("demo%-ou-1"))))
    n = 1
    while f"{'demo' if n == 1 else f'demo{n}'}-ou-1" in taken:
        n += 1
    return "demo-" if n == 1 else f"demo{n}-"


def seed(company: Company, *, now: datetime, days: int = 14, messages: int = 5000,
         people: int | None = None, seed_value: int = 7,
         rebuild_indexes_from: int = REBUILD_INDEXES_FROM) -> dict:
    """Add a demo data set to a company in the current transaction (the caller commits)."""
    plan = Plan.for_messages(days, messages, people)
    rng = random.Random(seed_value)
    tz = ZoneInfo(company.timezone)
    prefix = _prefix(company)
    tag = "" if prefix == "demo-" else "." + prefix[4:-1]
    cid = company.id
    start = now - timedelta(days=days)

    # org units, level by level (a parent is inserted before its children)
    unit_ids: dict[str, int] = {}
    for i, (name, parent) in enumerate(vocab.UNITS, start=1):
        unit = OrgUnit(company_id=cid, external_id=f"{prefix}ou-{i}", name=name,
                       parent_id=unit_ids[parent] if parent else None)
        db.session.add(unit)
        db.session.flush()
        unit_ids[name] = unit.id
    leaf_units = [unit_ids[n] for n, _ in vocab.UNITS if not any(p == n for _, p in vocab.UNITS)]
    all_units = list(unit_ids.values())

    # people
    slug = company.slug
    user_rows = []
    for i in range(plan.people):
        first = vocab.FIRST[i % len(vocab.FIRST)]
        last = vocab.LAST[(i * 7 + i // len(vocab.FIRST)) % len(vocab.LAST)]
        email = f"{first}.{last}{i}{tag}@{slug}.example".lower()
        user_rows.append({"company_id": cid, "external_id": f"{prefix}u-{i + 1}",
                          "email": email, "email_key": email_key(email),
                          "name": f"{first} {last}", "is_group": False, "active": True,
                          "org_unit_id": rng.choice(leaf_units if rng.random() < 0.85
                                                    else all_units),
                          "created_at": now})
    db.session.execute(sa.insert(User), user_rows)
    user_ids = _ids(User, cid, prefix)
    users = [(user_ids[r["external_id"]], r["org_unit_id"], r["name"]) for r in user_rows]

    # corporate numbers: one to three channels each; some idle for weeks
    account_rows, account_meta = [], []
    for i, (user_id, unit_id, name) in enumerate(users):
        channels = {_weighted(rng, vocab.CHANNEL_MIX) for _ in range(rng.choice((1, 2, 2, 3)))}
        for channel in sorted(channels):
            n = len(account_rows) + 1
            status = _weighted(rng, vocab.STATUS_MIX)
            idle = rng.random() < 0.08 or status == "disconnected"
            last = now - (timedelta(days=rng.randint(15, 90), minutes=rng.randint(0, 1440))
                          if idle else timedelta(minutes=rng.randint(5, 600)))
            if channel == "imessage":
                identifier = f"{name.split()[0].lower()}.{i}{tag}@icloud.example"
            elif channel in ("wecom", "wechat", "line"):
                identifier = f"{channel}-{name.split()[0].lower()}-{i}{tag}"
            else:
                identifier = f"+44 7700 9{n % 100000:05d}"
            account_rows.append({
                "company_id": cid, "external_id": f"{prefix}acc-{n}", "channel": channel,
                "identifier": identifier, "user_id": user_id, "status": status,
                "status_since": now - timedelta(days=rng.randint(0, 300),
                                                minutes=rng.randint(0, 1440)),
                "last_activity_at": last})
            account_meta.append((channel, user_id, unit_id, name, idle))
    db.session.execute(sa.insert(Account), account_rows)
    account_ids = _ids(Account, cid, prefix)
    accounts = [(account_ids[r["external_id"]], *meta)
                for r, meta in zip(account_rows, account_meta, strict=True)]

    # rooms: each held by one corporate number; busy and quiet ones (a Zipf-like spread)
    room_rows, room_meta = [], []
    for n in range(1, plan.rooms + 1):
        account_id, channel, user_id, unit_id, owner_name, idle = accounts[
            (n - 1) % len(accounts) if n <= len(accounts) else rng.randrange(len(accounts))]
        group = rng.random() < 0.25
        client = f"{rng.choice(vocab.CLIENT_FIRST)} {rng.choice(vocab.CLIENT_LAST)}"
        participants = rng.randint(3, 40) if group else 2
        internal = max(1, min(participants - 1, int(participants * rng.uniform(0.2, 0.6))))
        room_rows.append({
            "company_id": cid, "external_id": f"{prefix}room-{n}", "channel": channel,
            "type": "group" if group else "direct",
            "name": f"{client} — {owner_name}" if group else f"{owner_name} / {client}",
            "org_unit_id": unit_id, "governed": rng.random() < 0.95, "owner_user_id": user_id,
            "created_at": start - timedelta(days=rng.randint(0, 700),
                                            minutes=rng.randint(0, 1440)),
            "participants": participants, "internal_participants": internal,
            "external_participants": participants - internal})
        room_meta.append((account_id, channel, unit_id, user_id, idle))
    for i in range(0, len(room_rows), CHUNK):
        db.session.execute(sa.insert(Room), room_rows[i:i + CHUNK])
    room_id_of = _ids(Room, cid, prefix)
    rooms = [(room_id_of[r["external_id"]], *meta)
             for r, meta in zip(room_rows, room_meta, strict=True)]
    del room_rows, room_id_of
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(rooms))]
    rng.shuffle(weights)  # the busy rooms are not the first ones created
    weights = [0.0 if room[5] else w for room, w in zip(rooms, weights, strict=True)]
    if not any(weights):
        weights = [1.0] * len(rooms)
    room_cum = _cumulative(weights)

    # the hours of the period, weighted by the local hour and weekday (UTC slots, so that
    # zones with half-hour offsets need nothing special)
    first_hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    slots, slot_weights = [], []
    hour = first_hour
    while hour < now:
        local = hour.astimezone(tz)
        slots.append(hour.strftime("%Y-%m-%d %H:"))
        slot_weights.append(vocab.HOUR_PROFILE[local.hour] * vocab.WEEKDAY_WEIGHT[local.weekday()])
        hour += timedelta(hours=1)
    slot_cum = _cumulative(slot_weights)
    last_slot_seconds = int((now - (hour - timedelta(hours=1))).total_seconds())
    minute_second = [f"{s // 60:02d}:{s % 60:02d}.000000" for s in range(3600)]

    def message_rows():
        room_range, slot_range = range(len(rooms)), range(len(slots))
        last = len(slots) - 1
        for begin in range(0, plan.messages, CHUNK):
            k = min(CHUNK, plan.messages - begin)
            picks = rng.choices(room_range, cum_weights=room_cum, k=k)
            hours = rng.choices(slot_range, cum_weights=slot_cum, k=k)
            for n, (r, h) in enumerate(zip(picks, hours, strict=True), start=begin + 1):
                second = int(rng.random() * 3600)
                if h == last and second >= last_slot_seconds:
                    second = int(rng.random() * max(1, last_slot_seconds))
                room = rooms[r]
                yield (cid, f"{prefix}m-{n:09d}", room[0], room[1],
                       "sent" if rng.random() < 0.45 else "received",
                       slots[h] + minute_second[second])

    columns = ("company_id", "external_id", "room_id", "account_id", "direction", "sent_at")
    if not slots:
        message_count = 0
    elif plan.messages >= rebuild_indexes_from:
        # filling a b-tree at random places is what makes a big load slow: drop the
        # secondary indexes, load, and build them again in one sorted pass each
        # (and on PostgreSQL, checking each row's foreign keys by trigger: they are added
        # back afterwards, which checks them all in one join)
        connection = db.session.connection()
        indexes = sorted(Message.__table__.indexes, key=lambda i: i.name)
        foreign_keys = ([c for c in Message.__table__.constraints
                         if isinstance(c, sa.ForeignKeyConstraint)]
                        if connection.dialect.name == "postgresql" else [])
        for constraint in foreign_keys:
            connection.execute(sa.schema.DropConstraint(constraint))
        for index in indexes:
            index.drop(connection)
        message_count = bulk_insert("messages", columns, message_rows(), plain=True)
        for index in indexes:
            index.create(connection)
        for constraint in foreign_keys:
            connection.execute(sa.schema.AddConstraint(constraint))
    else:
        message_count = bulk_insert("messages", columns, message_rows(), plain=True)

    def random_time() -> str:
        h = rng.choices(range(len(slots)), cum_weights=slot_cum)[0]
        limit = last_slot_seconds if h == len(slots) - 1 else 3600
        return slots[h] + minute_second[int(rng.random() * max(1, limit))]

    # violations: a few per thousand messages, where the traffic is
    violation_count = max(30, min(200_000, plan.messages // 400)) if slots else 0
    picks = rng.choices(range(len(rooms)), cum_weights=room_cum, k=violation_count)
    violation_rows = []
    for n, r in enumerate(picks, start=1):
        room_id, _account, channel, _unit, owner, _idle = rooms[r]
        dlp = rng.random() < 0.7
        violation_rows.append((
            cid, f"{prefix}v-{n}", room_id, owner if rng.random() < 0.7 else None,
            "dlp" if dlp else "room_condition",
            rng.choice(vocab.DLP_POLICIES if dlp else vocab.ROOM_POLICIES),
            "blocked" if rng.random() < 0.35 else "flagged", random_time()))
    bulk_insert("violations", ("company_id", "external_id", "room_id", "user_id", "type",
                               "policy", "action", "occurred_at"), violation_rows)

    # irregularities per channel: native numbers, WeCom rooms, the other connectors
    irregularity_rows = []
    if slots:
        for account_id, channel, _user, _unit, _name, idle in accounts:
            for _ in range(rng.choice((0, 0, 1, 1, 2, 4 if idle else 1))):
                if channel in ("whatsapp", "imessage"):
                    event, text, stopped = rng.choice(vocab.NATIVE_EVENTS)
                    contact, room_id = None, None
                elif channel == "wecom":
                    continue  # per room, below
                else:
                    event, text, stopped = rng.choice(vocab.OTHER_EVENTS)
                    contact, room_id = None, None
                irregularity_rows.append((
                    cid, f"{prefix}irr-{len(irregularity_rows) + 1}", channel, account_id,
                    room_id, None, event, text, contact, stopped, random_time()))
        wecom_rooms = [r for r in rooms if r[2] == "wecom"]
        for _ in range(min(len(wecom_rooms) * 2, max(10, plan.messages // 2000))):
            room_id, account_id, _channel, unit_id, _owner, _idle = rng.choice(wecom_rooms) \
                if wecom_rooms else (None, None, "wecom", rng.choice(all_units), None, False)
            event, text = rng.choice(vocab.WECOM_EVENTS)
            contact = (None if event == "group_messages_not_archived"
                       else f"{rng.choice(vocab.CLIENT_FIRST)} contact {rng.randint(1, 999)}")
            irregularity_rows.append((
                cid, f"{prefix}irr-{len(irregularity_rows) + 1}", "wecom", account_id,
                room_id, unit_id, event, text, contact,
                event == "group_messages_not_archived", random_time()))
    bulk_insert("irregularities", ("company_id", "external_id", "channel", "account_id",
                                   "room_id", "org_unit_id", "event_type", "description",
                                   "contact", "archiving_stopped", "occurred_at"),
                irregularity_rows)

    # archive exports: a nightly email per active room, some refused by the archive
    export_rows = []
    export_count = min(200_000, max(20, plan.messages // 50)) if slots else 0
    picks = rng.choices(range(len(rooms)), cum_weights=room_cum, k=export_count)
    for n, r in enumerate(picks, start=1):
        room_id = rooms[r][0]
        day = rng.randrange(max(1, days))
        exported = start + timedelta(days=day + 1, hours=rng.uniform(1, 3))
        if exported > now:
            exported = now - timedelta(minutes=rng.randint(1, 60))
        count = rng.randint(1, 400)
        failed = rng.random() < 0.04
        export_rows.append((
            cid, f"{prefix}x-{n}", room_id, count, f"journal@archive.{slug}.example",
            f"<{prefix}x-{n}.{rng.getrandbits(40):x}@herald.{slug}.example>",
            count * rng.randint(900, 4000), "failed" if failed else "sent",
            rng.choice(vocab.SMTP_FAILURES) if failed
            else f"250 2.0.0 OK queued as {rng.getrandbits(32):08X}", _ts(exported)))
    bulk_insert("export_emails", ("company_id", "external_id", "room_id", "messages",
                                  "archive_address", "email_message_id", "size_bytes",
                                  "status", "smtp_response", "exported_at"), export_rows)
    db.session.flush()
    return {"org_units": len(unit_ids), "users": len(users), "accounts": len(accounts),
            "rooms": len(rooms), "messages": message_count, "violations": len(violation_rows),
            "irregularities": len(irregularity_rows), "export_emails": len(export_rows)}


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out

