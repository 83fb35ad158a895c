"""What the portal's lists (tasks, a task's runs, My reports, the outbox, the audit log) do
with their query arguments: bad ones show the first page unfiltered (the audit log: no
events), a message per argument and status 422; a CSV export refuses them (422). The audit
log's period is read in the company's time zone (``local_period``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from flask import abort, request, url_for

from ..services.errors import InputError

T = TypeVar("T")
_MARK = 918_273_645_546_372_819  # no row's id: where it goes in the URL built once


def row_url(endpoint: str, key: str) -> Callable[[int], str]:
    """``url_for(endpoint, key=id)`` for each row of a list, the routing map walked once: a
    list of 100 tasks asks for 300 such URLs (a url_for costs as much as a row's cells)."""
    head, tail = url_for(endpoint, **{key: _MARK}).split(str(_MARK))
    return lambda value: f"{head}{int(value)}{tail}"


def parsed(parse: Callable[[object], T]) -> tuple[T, dict[str, str]]:
    """(what ``parse`` makes of the query's arguments, {}), or, when some are bad, (what it
    makes of none, a message per bad argument)."""
    try:
        return parse(request.args), {}
    except InputError as exc:
        return parse({}), exc.fields


def status(errors: dict) -> int:
    return 422 if errors else 200


def kept(*dropped: str, only: tuple[str, ...] = ()) -> dict[str, str]:
    """The non-empty arguments the page's links keep (its filters), without ``dropped``
    (the cursor, the page number) or, given ``only``, just those."""
    return {k: v for k, v in request.args.items()
            if v and k not in dropped and (not only or k in only)}


def for_export(parse: Callable[[object], T]) -> T:
    """What ``parse`` makes of the query's arguments; 422 naming the bad ones."""
    try:
        return parse(request.args)
    except InputError as exc:
        abort(422, description="; ".join(exc.fields.values()))


def local_period(args, zone: str, keys: tuple[str, ...] = ("since", "until")
                 ) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The period boxes of a list read in the time zone ``zone``: (the query's arguments with
    each time as ISO 8601 with its offset, what each box shows — the local
    ``YYYY-MM-DDTHH:MM`` of an ``<input type="datetime-local">`` —, a message per bad box).
    A box takes a local time (``2026-11-01T00:00``, seconds allowed), a date (its midnight)
    or an ISO 8601 time with its offset (a link, an export). A local time a DST change skips
    or repeats is read as zoneinfo's fold=0 reads it: the offset in force before the change
    (01:30 in London's spring gap is 01:30+00:00, i.e. 02:30 summer time; 01:30 on the
    autumn night is the first one, 01:30+01:00). A bad box is left out of the arguments."""
    tz = ZoneInfo(zone)
    out = {k: v for k, v in args.items() if v and k not in keys}
    shown, errors = {}, {}
    for key in keys:
        value = (args.get(key) or "").strip()
        if not value:
            continue
        moment = _moment(value, tz)
        if moment is None:
            shown[key] = value
            errors[key] = (f"{key.capitalize()} must be a date and time from 1970 on, such as "
                           "2026-11-01T00:00, or an ISO 8601 time with its offset.")
            continue
        out[key] = moment.isoformat()
        local = moment.astimezone(UTC).astimezone(tz)  # a time in the gap: its real one
        shown[key] = local.strftime("%Y-%m-%dT%H:%M:%S" if local.second else "%Y-%m-%dT%H:%M")
    return out, shown, errors


def _moment(value: str, tz: ZoneInfo) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if not 1970 <= moment.year <= 9000:  # as the API's ISO times
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz, fold=0)  # a date: 00:00
