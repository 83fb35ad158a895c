"""What the demo data (webapp/services/demo.py) is made of: how much (Plan), names, units,
channel and status mixes, the daily and weekly rhythm, policies, irregularity events, SMTP
failures."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """How much to make; derived from the message count so a big seed stays plausible."""

    days: int
    messages: int
    people: int
    rooms: int

    @classmethod
    def for_messages(cls, days: int, messages: int, people: int | None = None,
                     rooms: int | None = None) -> Plan:
        people = people or max(24, min(5000, messages // 4000))
        rooms = rooms or max(people * 4, min(200_000, messages // 100))
        return cls(days=days, messages=messages, people=people, rooms=rooms)


FIRST = ("Alice", "Bruno", "Chen", "Dana", "Emeka", "Fatima", "Goran", "Hana", "Ivan", "Jia",
         "Kofi", "Lena", "Mateo", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara",
         "Uma", "Viktor", "Wen", "Xavier", "Yara", "Zoltan")
LAST = ("Ng", "Okafor", "Schmidt", "Rossi", "Tanaka", "Silva", "Kowalski", "Haddad", "Moreau",
        "Patel", "Larsen", "Costa", "Novak", "Ibrahim", "Walsh", "Zhang", "Kim", "Dubois")
# name, parent name
UNITS = (("Global Markets", None), ("Equities", "Global Markets"),
         ("Cash Equities Desk", "Equities"), ("Derivatives Desk", "Equities"),
         ("Fixed Income", "Global Markets"), ("Rates Desk", "Fixed Income"),
         ("Wealth Management", None), ("Private Banking", "Wealth Management"),
         ("Asia Private Banking", "Private Banking"), ("Family Office Services",
         "Wealth Management"), ("Operations", None), ("Compliance", "Operations"))
CLIENT_FIRST = ("Harbor", "Norther", "Blue Pine", "Meridian", "Atlas", "Kestrel", "Solace",
                "Orchid", "Granite", "Lumen", "Cobalt", "Juniper", "Sable", "Vantage")
CLIENT_LAST = ("Capital", "Trust", "LLP", "Family Office", "Pension Fund", "Partners",
               "Holdings", "Ventures", "Asset Management", "Foundation")
CHANNEL_MIX = (("whatsapp", 45), ("imessage", 20), ("sms", 12), ("wecom", 10),
               ("telegram", 5), ("wechat", 3), ("line", 3), ("signal", 2))
STATUS_MIX = (("connected", 85), ("disconnected", 7), ("pending", 5), ("error", 3))
# relative traffic per local hour of a working day
HOUR_PROFILE = (1, 1, 1, 1, 1, 2, 5, 14, 30, 42, 46, 44, 34, 38, 44, 42, 36, 26, 16, 10, 7,
                5, 3, 2)
WEEKDAY_WEIGHT = (1.0, 1.0, 1.0, 1.0, 0.9, 0.25, 0.15)
DLP_POLICIES = ("Card numbers", "IBAN in chat", "Insider list terms", "Guaranteed returns",
                "Offensive language", "Personal data")
ROOM_POLICIES = ("External guest joined", "Unapproved group name", "Recording disabled",
                 "Client added personal number")
NATIVE_EVENTS = (("disconnected", "The phone was disconnected from the archiving service", True),
                 ("logged_out", "The account was logged out on the device", True),
                 ("sync_delayed", "Messages arrived more than an hour late", False),
                 ("backup_failed", "The device backup the archive reads from failed", False))
OTHER_EVENTS = (("disconnected", "The connector lost its session", True),
                ("rate_limited", "The provider throttled the connector", False))
WECOM_EVENTS = (("unusual_client_status", "The client deleted the conversation"),
                ("anonymous_contact", "A contact hid their identity"),
                ("group_messages_not_archived", "Group messages were not archived"))
SMTP_FAILURES = ("451 4.7.1 Greylisted, please try again later",
                 "552 5.3.4 Message size exceeds fixed maximum message size",
                 "421 4.4.2 Connection timed out", "550 5.1.1 Archive mailbox unavailable")
