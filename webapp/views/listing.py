"""What the portal's lists (tasks, a task's runs, My reports, the outbox, the audit log) do
with their query arguments: bad ones show the first page unfiltered, a message per argument
and status 422; a CSV export refuses them (422)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import abort, request

from ..services.errors import InputError

T = TypeVar("T")


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
