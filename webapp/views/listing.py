"""What the portal's lists (tasks, a task's runs, My reports, the outbox, the audit log) do
with their query arguments: bad ones show the first page unfiltered, a message per argument
and status 422; a CSV export refuses them (422)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

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
