"""CSV rules of docs/product.md §2: company column, header, RFC 4180, formula-injection escaping."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from datetime import datetime

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DANGEROUS = frozenset("=+-@\t\r")


def escape_cell(value):
    """Render a cell; a text starting like a formula gets a leading ``'``. Called once per
    cell of every report, so the common cases (text, numbers) come first."""
    kind = value.__class__
    if kind is str:
        if value and value[0] in _DANGEROUS and not _NUMBER.match(value):
            return "'" + value
        return value
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return value  # the csv writer renders numbers itself
    return escape_cell(str(value))


def file_name(company_slug: str, report_key: str, start: datetime, end: datetime) -> str:
    fmt = "%Y%m%dT%H%M"
    return f"{company_slug}_{report_key}_{start.strftime(fmt)}-{end.strftime(fmt)}.csv"


def write_csv(path: str, company_name: str, columns: Iterable[str], rows: Iterable[Iterable],
              excel_bom: bool = False) -> tuple[int, int]:
    """Write atomically (temporary name, then rename); return (row count, size in bytes)."""
    tmp = f"{path}.part"
    count = 0
    company = escape_cell(company_name)
    with open(tmp, "w", encoding="utf-8-sig" if excel_bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(["company", *columns])
        for row in rows:
            writer.writerow([company, *map(escape_cell, row)])
            count += 1
    os.replace(tmp, path)
    return count, os.path.getsize(path)
