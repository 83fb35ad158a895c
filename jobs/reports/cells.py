"""SQL that turns a report's columns into its CSV cells, so that the database writes every
cell as the CSV needs it and Python never touches one:

- text: a cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a
  leading ``'`` (formula injection), except a plain number such as ``-5`` or ``+1.5e3``;
- times (``UTCDateTime`` columns, stored as naive UTC): ISO 8601 with the offset of the
  task's time zone, microseconds only when there are some (as ``datetime.isoformat``);
- booleans: ``true`` / ``false``; integers as they are; NULL is an empty cell;
- first, the ``company`` column: the tenant's name, escaped like any text.

The same statement runs on SQLite and PostgreSQL; where they differ (no regular
expressions in SQLite, no time zones either) each gets its own SQL for the same result.
A time's offset comes from a balanced tree of ``CASE`` over the zone's transitions
(computed here from ``zoneinfo``), so both databases render it identically, without time
zone support in the database. These expressions name their column many times: a report
whose column is expensive to compute (a correlated subquery) computes it in a subquery
fenced by ``fenced()``, so that it is computed once per row.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from webapp.models.types import UTCDateTime

# a zone's transitions are taken from these years; a time outside them gets the offset in
# force at the nearest end
FIRST_YEAR, LAST_YEAR = 1970, 2100


def render(stmt: sa.Select, columns, ctx, span=None) -> sa.Select:
    """``stmt`` with its columns replaced by their cells, ``company`` first. ``span`` is
    the (start, end) that every time of the report lies in, if known: the zone's
    transitions outside it are left out of the SQL."""
    selected = list(stmt.selected_columns)
    if len(selected) != len(columns):
        raise ValueError(f"the statement has {len(selected)} columns, the report "
                         f"{len(columns)}")
    # written into the SQL by SQLAlchemy's own quoting, so that it is one constant
    company = Escaped(sa.literal(ctx.company_name, sa.String, literal_execute=True))
    cells = [cell(_unlabelled(col), ctx.timezone, span).label(name)
             for col, name in zip(selected, columns, strict=True)]
    return stmt.with_only_columns(company.label("company"), *cells,
                                  maintain_column_froms=True)


def fenced(stmt: sa.Select) -> sa.Select:
    """A subquery the database computes once per row instead of merging it into the outer
    query (which would compute its expressions once per use): ``OFFSET 0`` keeps both
    PostgreSQL and SQLite from flattening it."""
    return stmt.offset(0)


def cell(col, tz: ZoneInfo, span=None):
    kind = col.type
    if isinstance(kind, UTCDateTime):
        return LocalTime(col, zone=tz.key, span=span)
    if isinstance(kind, sa.Boolean):
        return sa.case((col, sa.literal_column("'true'")),
                       (sa.not_(col), sa.literal_column("'false'")))
    if isinstance(kind, sa.Integer):
        return col
    if isinstance(kind, sa.String):
        return Escaped(col)
    raise TypeError(f"no CSV rendering for {col!r} of type {kind!r}")


class Escaped(FunctionElement):
    """The text, with ``'`` before it if it starts like a formula and is not a number."""

    type = sa.String()
    name = "escaped"
    inherit_cache = True


_NUMBER_RE = r"'^[+-]([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$'"
_POSTGRESQL_ESCAPED = (
    "CASE WHEN left({x}, 1) IN ('=', '+', '-', '@', chr(9), chr(13))"
    " AND NOT (left({x}, 1) IN ('+', '-') AND ((length({x}) > 1"
    f" AND ltrim(substr({{x}}, 2), '0123456789') = '') OR {{x}} ~ {_NUMBER_RE}))"
    # COPY writes an empty text as "" and NULL as nothing; csv.writer writes both as nothing
    " THEN '''' || {x} ELSE NULLIF({x}, '') END")


def _sqlite_mantissa(m: str) -> str:
    """Digits and at most one dot, at least one digit."""
    return f"({m} NOT GLOB '*[^0-9.]*' AND {m} GLOB '*[0-9]*' AND {m} NOT GLOB '*.*.*')"


def _sqlite_exponent(e: str) -> str:
    """An optional sign, then at least one digit."""
    digits = f"substr({e}, CASE WHEN {e} GLOB '[+-]*' THEN 2 ELSE 1 END)"
    return f"({digits} != '' AND {digits} NOT GLOB '*[^0-9]*')"


# SQLite has no regular expressions: the number is spelled with GLOB. After the sign comes
# a mantissa, then optionally e or E and an exponent.
_REST, _E_AT = "substr({x}, 2)", "instr(lower(substr({x}, 2)), 'e')"
_SQLITE_ESCAPED = (
    "CASE WHEN substr({x}, 1, 1) IN ('=', '+', '-', '@', char(9), char(13))"
    " AND NOT (substr({x}, 1, 1) IN ('+', '-') AND ("
    f"({_REST} != '' AND {_REST} NOT GLOB '*[^0-9]*')"  # the usual case: digits only
    f" OR ({_E_AT} = 0 AND {_sqlite_mantissa(_REST)})"
    f" OR ({_E_AT} > 0 AND {_sqlite_mantissa(f'substr({_REST}, 1, {_E_AT} - 1)')}"
    f" AND {_sqlite_exponent(f'substr({_REST}, {_E_AT} + 1)')})))"
    " THEN '''' || {x} ELSE {x} END")


@compiles(Escaped, "postgresql")
def _escaped_postgresql(element, compiler, **kw):
    return _fill(_POSTGRESQL_ESCAPED, compiler.process(_only(element), **kw))


@compiles(Escaped, "sqlite")
def _escaped_sqlite(element, compiler, **kw):
    return _fill(_SQLITE_ESCAPED, compiler.process(_only(element), **kw))


class LocalTime(FunctionElement):
    """A naive UTC time as ``YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM`` in ``zone``."""

    type = sa.String()
    name = "local_time"
    inherit_cache = False  # the zone and span are not in the cache key

    def __init__(self, col, zone: str, span=None):
        super().__init__(col)
        self.zone = zone
        self.bounds = None if span is None else tuple(
            t.astimezone(UTC).replace(tzinfo=None) for t in span)


@compiles(LocalTime, "postgresql")
def _local_time_postgresql(element, compiler, **kw):
    return _fill(_local_time_sql(element.zone, "postgresql", element.bounds),
                 compiler.process(_only(element), **kw))


@compiles(LocalTime, "sqlite")
def _local_time_sqlite(element, compiler, **kw):
    return _fill(_local_time_sql(element.zone, "sqlite", element.bounds),
                 compiler.process(_only(element), **kw))


@lru_cache(maxsize=256)
def _local_time_sql(zone: str, dialect: str, bounds) -> str:
    points, offsets = transitions(zone)
    if bounds is not None:  # only the transitions inside the span matter
        lo, hi = bisect_right(points, bounds[0]), bisect_right(points, bounds[1])
        points, offsets = points[lo:hi], offsets[lo:hi + 1]
    suffix = _tree(points, [f"'{_offset_text(s)}'" for s in offsets])
    if dialect == "postgresql":
        shifted = "CAST({x} + " + _tree(points, [f"interval '{s} seconds'" for s in offsets]) \
            + " AS text)"
        # PostgreSQL drops the trailing zeros of microseconds; isoformat writes six digits
        wall = f"rpad({shifted}, CASE WHEN date_trunc('second', {{x}}) = {{x}} THEN 19 " \
               "ELSE 26 END, '0')"
        return f"replace({wall}, ' ', 'T') || {suffix}"
    # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff'; strftime is given whole seconds (it
    # would round 59.9999995 up to the next minute) and the fraction is put back after
    shift = _tree(points, [f"'{s:+d} seconds'" for s in offsets])
    return (f"strftime('%Y-%m-%dT%H:%M:%S', substr({{x}}, 1, 19), {shift})"
            " || CASE WHEN substr({x}, 20) IN ('', '.000000') THEN '' ELSE substr({x}, 20) END"
            f" || {suffix}")


def _tree(points, values) -> str:
    """``values[i]`` for a time between ``points[i-1]`` and ``points[i]``: a balanced tree
    of ``CASE``, so a zone with 260 transitions costs 9 comparisons."""
    if len(values) == 1:
        return values[0]
    mid = len(values) // 2
    return (f"CASE WHEN {{x}} < '{points[mid - 1].isoformat(' ')}' "
            f"THEN {_tree(points[:mid - 1], values[:mid])} "
            f"ELSE {_tree(points[mid:], values[mid:])} END")


@lru_cache(maxsize=64)
def transitions(zone: str) -> tuple[list[datetime], list[int]]:
    """The zone's transitions from FIRST_YEAR to LAST_YEAR: the instants (naive UTC) at
    which its offset changes, and the offsets in seconds before, between and after them.
    Found by looking once a day (Brazil in 2000 and Gaza's rules for the 2040s change and
    change back within a week; none within a day) and bisecting to the second where the
    offset moved: ~50 ms, once per zone and process."""
    tz = ZoneInfo(zone)

    def offset(t: int) -> int:
        return int(datetime.fromtimestamp(t, tz).utcoffset().total_seconds())

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    t = int((datetime(FIRST_YEAR, 1, 1, tzinfo=UTC) - epoch).total_seconds())
    end = int((datetime(LAST_YEAR, 1, 1, tzinfo=UTC) - epoch).total_seconds())
    points, offsets = [], [offset(t)]
    day = 86400
    while t < end:
        if offset(t + day) != offsets[-1]:
            lo, hi = t, t + day  # offset(lo) is the old one, offset(hi) another
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset(mid) == offsets[-1] else (lo, mid)
            points.append(datetime(1970, 1, 1) + timedelta(seconds=hi))
            offsets.append(offset(hi))
            t = hi
        else:
            t += day
    return points, offsets


def _offset_text(seconds: int) -> str:
    """The offset as ``isoformat`` writes it: ``+01:00``, ``-03:30``, ``-00:44:30``."""
    return datetime(2000, 1, 1, tzinfo=timezone(timedelta(seconds=seconds))).isoformat()[19:]


def _fill(template: str, x: str) -> str:
    return x.join(template.split("{x}"))


def _only(element):
    (col,) = element.clauses.clauses
    return col


def _unlabelled(col):
    return col.element if isinstance(col, sa.Label) else col
