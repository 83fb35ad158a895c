"""The task form's time-zone choices: the IANA zones of the tz database's ``zone.tab`` (one
per region of each country, Europe/Oslo included) and UTC — no legacy names such as
``US/Eastern`` or ``Asia/Calcutta``, no ``Etc/GMT+5`` (which means UTC−5) — each with its UTC
offset now, the company's zone first."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo

from jobs import schedule as sched


@cache
def _canonical() -> frozenset[str] | None:
    """The zones of ``zone.tab`` (None where the system has no tz database files)."""
    for base in TZPATH:
        source = Path(base) / "zone.tab"
        if source.is_file():
            return frozenset({"UTC"} | {
                line.split("\t")[2] for line in source.read_text().splitlines()
                if line and not line.startswith("#") and len(line.split("\t")) >= 3})
    return None


def _offset(name: str, now: datetime) -> str:
    minutes = int(now.astimezone(ZoneInfo(name)).utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def choices(company_zone: str, chosen: str, now: datetime) -> list[tuple[str, str]]:
    """(name, label) pairs: the company's zone, the one chosen if it is a link, then every
    canonical zone by name."""
    canonical = _canonical()
    names = [n for n in sched.timezone_names() if n != company_zone and not n.startswith(
        ("Etc/", "US/")) and (canonical is None or n in canonical)]
    first = [company_zone] + ([chosen] if chosen not in (company_zone, *names) and
                              sched.is_timezone(chosen) else [])
    return [(n, f"{n} ({_offset(n, now)})" + (" — the company's" if n == company_zone else ""))
            for n in first + names]
