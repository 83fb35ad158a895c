"""The reference CSV writer: the report's statement run through SQLAlchemy, every cell
rendered in Python (as Herald did before the database rendered them) and written by
``csv.writer``. Slow, and plainly right: the tests compare the fast path with it."""

from __future__ import annotations

import csv
import os
import re
from datetime import datetime

_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_DANGEROUS = frozenset("=+-@\t\r")


def escape_cell(value):
    """A text starting like a formula gets a leading ``'``, unless it is a plain number."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return value
    value = str(value)
    if value and value[0] in _DANGEROUS and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def render(value, ctx):
    if isinstance(value, datetime):
        return ctx.local(value)
    return escape_cell(value)


def write_reference(path: str, session, rtype, ctx, excel_bom: bool = False) -> tuple[int, int]:
    count = 0
    with open(path, "w", encoding="utf-8-sig" if excel_bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(["company", *rtype.columns])
        company = escape_cell(ctx.company_name)
        for row in session.execute(rtype.statement(ctx).execution_options(yield_per=1000)):
            writer.writerow([company, *(render(v, ctx) for v in row)])
            count += 1
    return count, os.path.getsize(path)
