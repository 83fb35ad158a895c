"""Demo communications data for a company: org units, people, corporate numbers, rooms and
messages with a daily rhythm. Inserted in bulk."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..extensions import db
from ..models import Account, Company, Message, OrgUnit, Room, User

FIRST = ("Alice", "Bruno", "Chen", "Dana", "Emeka", "Fatima", "Goran", "Hana", "Ivan", "Jia",
         "Kofi", "Lena", "Mateo", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara")
LAST = ("Ng", "Okafor", "Schmidt", "Rossi", "Tanaka", "Silva", "Kowalski", "Haddad", "Moreau",
        "Patel", "Larsen", "Costa", "Novak", "Ibrahim", "Walsh")
UNITS = (("Global Markets", None), ("Equities", "Global Markets"), ("Fixed Income",
         "Global Markets"), ("Wealth Management", None), ("Private Banking",
         "Wealth Management"), ("Compliance", None))
CLIENTS = ("Harbor Capital", "Norther Trust Fund", "Blue Pine LLP", "Meridian Family Office",
           "Atlas Pension", "Kestrel Partners", "Solace Holdings", "Orchid Ventures")
CHANNEL_MIX = (("whatsapp", 0.55), ("imessage", 0.25), ("sms", 0.15), ("wecom", 0.05))


def _pick_channel(rng: random.Random) -> str:
    x, acc = rng.random(), 0.0
    for channel, weight in CHANNEL_MIX:
        acc += weight
        if x < acc:
            return channel
    return CHANNEL_MIX[0][0]


def seed(company: Company, *, now: datetime, days: int = 14, messages: int = 5000,
         people: int = 24, seed_value: int = 7) -> dict:
    rng = random.Random(seed_value)
    slug = company.slug
    units: dict[str, OrgUnit] = {}
    for name, parent in UNITS:
        unit = OrgUnit(company_id=company.id, external_id=f"ou-{len(units) + 1}", name=name,
                       parent_id=units[parent].id if parent else None)
        db.session.add(unit)
        db.session.flush()
        units[name] = unit
    unit_list = list(units.values())
    users, accounts = [], []
    for i in range(people):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        email = f"{first}.{last}{i}@{slug}.example".lower()
        user = User(company_id=company.id, name=f"{first} {last}", external_id=f"u-{i + 1}",
                    org_unit_id=rng.choice(unit_list).id)
        user.set_email(email)
        users.append(user)
    db.session.add_all(users)
    db.session.flush()
    for i, user in enumerate(users):
        for channel in {_pick_channel(rng), _pick_channel(rng)}:
            status = rng.choices(("connected", "disconnected", "pending", "error"),
                                 (85, 7, 5, 3))[0]
            accounts.append(Account(
                company_id=company.id, external_id=f"acc-{len(accounts) + 1}", channel=channel,
                identifier=f"+44 7700 9{i:02d}{len(accounts):03d}", user_id=user.id,
                status=status, status_since=now - timedelta(days=rng.randint(1, 200)),
                last_activity_at=now - timedelta(hours=rng.randint(1, 24 * 40))))
    db.session.add_all(accounts)
    db.session.flush()
    rooms = []
    for account in accounts:
        for _ in range(rng.randint(1, 4)):
            group = rng.random() < 0.3
            client = rng.choice(CLIENTS)
            owner = db.session.get(User, account.user_id)
            rooms.append((account, Room(
                company_id=company.id, external_id=f"room-{len(rooms) + 1}",
                channel=account.channel, type="group" if group else "direct",
                name=f"{client} — {owner.name}" if group else f"{owner.name} / {client}",
                org_unit_id=owner.org_unit_id, governed=True, owner_user_id=owner.id,
                created_at=now - timedelta(days=rng.randint(days, days + 300)),
                participants=rng.randint(3, 12) if group else 2)))
    for _, room in rooms:
        room.internal_participants = max(1, room.participants // 3)
        room.external_participants = room.participants - room.internal_participants
    db.session.add_all([r for _, r in rooms])
    db.session.flush()
    start = now - timedelta(days=days)
    rows = []
    for n in range(messages):
        account, room = rng.choice(rooms)
        day = start + timedelta(days=rng.randrange(days))
        # business hours in the company's zone, roughly: 07:00–19:00 UTC with a midday bump
        hour = min(23, max(0, int(rng.gauss(12.5, 3))))
        sent_at = day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60),
                              microsecond=0)
        if sent_at > now:
            sent_at -= timedelta(days=1)
        rows.append({"company_id": company.id, "external_id": f"msg-{n + 1}",
                     "room_id": room.id, "account_id": account.id,
                     "direction": "sent" if rng.random() < 0.45 else "received",
                     "sent_at": sent_at})
        if len(rows) >= 5000:
            db.session.execute(sa.insert(Message), rows)
            rows = []
    if rows:
        db.session.execute(sa.insert(Message), rows)
    db.session.flush()
    return {"org_units": len(units), "users": len(users), "accounts": len(accounts),
            "rooms": len(rooms), "messages": messages}
