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
A time's offset comes from a small search tree of ``CASE`` over the zone's transitions
(computed here from ``zoneinfo``), so both databases render it identically, without time
zone support in the database. A column is referenced many times by these expressions: a
report whose column is expensive to compute (a correlated subquery) computes it in a
subquery fenced by ``fenced()`` so that it is computed once per row.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from webapp.models.types import UTCDateTime

NUMBER_PG = r"^[+-]([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
# the zone's transitions are computed over these years; a time outside them gets the
# offset in force at the nearest end
FIRST_YEAR, LAST_YEAR = 1970, 2100


def render(stmt: sa.Select, columns, ctx, dialect: str, span=None) -> sa.Select:
    """``stmt`` with its columns replaced by their cells, ``company`` first. ``span`` is
    the (start, end) that every time of the report lies in, if known: the time zone's
    transitions outside it are left out of the SQL."""
    selected = list(stmt.selected_columns)
    if len(selected) != len(columns):
        raise ValueError(f"the statement has {len(selected)} columns, the report "
                         f"{len(columns)}")
    company = text_cell(sa.literal(ctx.company_name, sa.String), dialect)
    cells = [cell(_unlabelled(col), ctx, dialect, span).label(name)
             for col, name in zip(selected, columns, strict=True)]
    return stmt.with_only_columns(company.label("company"), *cells,
                                  maintain_column_froms=True)


def fenced(stmt: sa.Select) -> sa.Select:
    """A subquery the database computes once per row instead of merging it into the outer
    query (which would compute its expressions once per reference): ``OFFSET 0`` keeps
    both PostgreSQL and SQLite from flattening it."""
    return stmt.offset(0)


def cell(col, ctx, dialect: str, span=None):
    kind = col.type
    if isinstance(kind, UTCDateTime):
        return local_time(col, ctx.timezone, dialect, span)
    if isinstance(kind, sa.Boolean):
        return sa.case((col, _const("true")), (sa.not_(col), _const("false")))
    if isinstance(kind, sa.Integer):
        return col
    if isinstance(kind, sa.String):
        return text_cell(col, dialect)
    raise TypeError(f"no CSV rendering for {col!r} of type {kind!r}")


def text_cell(x, dialect: str):
    """The text, with ``'`` before it if it starts like a formula and is not a number."""
    first = sa.func.substr(x, 1, 1)
    if dialect == "postgresql":
        tab_cr = (sa.func.chr(9), sa.func.chr(13))
        digits_only = sa.and_(sa.func.ltrim(sa.func.substr(x, 2), _const("0123456789"))
                              == _const(""), sa.func.length(x) > 1)
        number = sa.and_(first.in_([_const("+"), _const("-")]),
                         sa.or_(digits_only, x.op("~")(_const(NUMBER_PG))))
        plain = sa.func.nullif(x, _const(""))  # COPY writes an empty text as ""
    else:
        tab_cr = (sa.func.char(9), sa.func.char(13))
        number = _sqlite_number(x, first)
        plain = x
    dangerous = first.in_([_const("="), _const("+"), _const("-"), _const("@"), *tab_cr])
    return sa.case((sa.and_(dangerous, sa.not_(number)), _const("'").concat(x)),
                   else_=plain)


def _sqlite_number(x, first):
    """SQLite has no regular expressions: ``[+-](digits[.digits*]|.digits)([eE][+-]?digits)?``
    spelled with GLOB. The part after the sign is a mantissa (digits and at most one dot,
    at least one digit), then optionally ``e``/``E`` and an exponent (an optional sign and
    at least one digit)."""
    def glob(value, pattern):
        return value.op("GLOB")(_const(pattern))

    def mantissa(m):
        return sa.and_(sa.not_(glob(m, "*[^0-9.]*")), glob(m, "*[0-9]*"),
                       sa.not_(glob(m, "*.*.*")))

    def exponent(e):
        unsigned = sa.func.substr(e, sa.case((glob(e, "[+-]*"), 2), else_=1))
        return sa.and_(unsigned != _const(""), sa.not_(glob(unsigned, "*[^0-9]*")))

    rest = sa.func.substr(x, 2)
    e_at = sa.func.instr(sa.func.lower(rest), _const("e"))
    return sa.and_(
        first.in_([_const("+"), _const("-")]),
        sa.or_(
            sa.and_(rest != _const(""), sa.not_(glob(rest, "*[^0-9]*"))),  # the usual case
            sa.and_(e_at == 0, mantissa(rest)),
            sa.and_(e_at > 0, mantissa(sa.func.substr(rest, 1, e_at - 1)),
                    exponent(sa.func.substr(rest, e_at + 1)))))


def local_time(col, tz: ZoneInfo, dialect: str, span=None):
    """``col`` (naive UTC) as ``YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM`` in ``tz``."""
    points, offsets = transitions(tz.key)
    if span is not None:  # only the transitions inside the span matter
        lo = bisect_right(points, span[0].astimezone(UTC).replace(tzinfo=None))
        hi = bisect_right(points, span[1].astimezone(UTC).replace(tzinfo=None))
        points, offsets = points[lo:hi], offsets[lo:hi + 1]
    suffix = _tree(col, points, [_const(_offset_text(s)) for s in offsets])
    if dialect == "postgresql":
        local = col + _tree(col, points, [sa.literal_column(f"interval '{s} seconds'")
                                          for s in offsets])
        wall = sa.cast(local, sa.Text)
        # PostgreSQL drops trailing zeros of the microseconds; isoformat keeps six digits
        wall = sa.case((sa.func.date_trunc(_const("second"), col) == col, wall),
                       else_=sa.func.rpad(wall, 26, _const("0")))
        return sa.func.replace(wall, _const(" "), _const("T")).concat(suffix)
    # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff'; strftime is given whole seconds (it
    # would round 59.9999995 up to the next minute) and the fraction is put back after
    shift = _tree(col, points, [_const(f"{s:+d} seconds") for s in offsets])
    wall = sa.func.strftime(_const("%Y-%m-%dT%H:%M:%S"), sa.func.substr(col, 1, 19), shift)
    fraction = sa.func.substr(col, 20)
    fraction = sa.case((fraction.in_([_const(""), _const(".000000")]), _const("")),
                       else_=fraction)
    return wall.concat(fraction).concat(suffix)


def _tree(col, points, values):
    """``values[i]`` for a time between ``points[i-1]`` and ``points[i]``: a balanced tree
    of ``CASE``, so a zone with 260 transitions costs 9 comparisons."""
    if len(values) == 1:
        return values[0]
    mid = len(values) // 2
    return sa.case((col < _const(points[mid - 1].isoformat(" ")),
                    _tree(col, points[:mid - 1], values[:mid])),
                   else_=_tree(col, points[mid:], values[mid:]))


@lru_cache(maxsize=64)
def transitions(key: str) -> tuple[list[datetime], list[int]]:
    """The zone's transitions from FIRST_YEAR to LAST_YEAR: the instants (naive UTC) at
    which its offset changes, and the offsets in seconds before, between and after them.
    Found by looking at every day and bisecting to the second where the offset moved."""
    tz = ZoneInfo(key)

    def offset(t: int) -> int:
        return int(datetime.fromtimestamp(t, tz).utcoffset().total_seconds())

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    t = int((datetime(FIRST_YEAR, 1, 1, tzinfo=UTC) - epoch).total_seconds())
    end = int((datetime(LAST_YEAR, 1, 1, tzinfo=UTC) - epoch).total_seconds())
    points, offsets = [], [offset(t)]
    day = 86400
    while t < end:
        if offset(t + day) != offsets[-1]:
            lo, hi = t, t + day  # offset(lo) is the old one, offset(hi) the new
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset(mid) == offsets[-1] else (lo, mid)
            points.append(datetime(1970, 1, 1) + timedelta(seconds=hi))
            offsets.append(offset(hi))
        t += day
    return points, offsets


def _offset_text(seconds: int) -> str:
    """The offset as ``isoformat`` writes it: ``+01:00``, ``-03:30``, ``-00:44:30``."""
    return datetime(2000, 1, 1, tzinfo=timezone(timedelta(seconds=seconds))).isoformat()[19:]


def _const(value: str):
    """A constant of ours (never user input) written into the SQL as it is, so that the
    statement can be run as such by the database's own shell."""
    if "'" in value and value != "'":
        raise ValueError(value)
    return sa.literal_column("''''" if value == "'" else f"'{value}'", sa.String)


def _unlabelled(col):
    return col.element if isinstance(col, sa.Label) else col
