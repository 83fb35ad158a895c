"""Writing a report's CSV file as docs/product.md §2 describes it: UTF-8 (with a BOM for
Excel if the task asks), RFC 4180, ``\\r\\n`` line ends, a header row, the ``company``
column first.

The database renders every cell (cells.py). On PostgreSQL the server also writes the CSV
(``COPY (SELECT …) TO STDOUT WITH (FORMAT csv)``) and Python only turns its ``\\n`` line
ends into ``\\r\\n``; on SQLite the rows of a plain cursor go straight to ``csv.writer``.
Both stream in batches: memory does not grow with the size of the report.
"""

from __future__ import annotations

import csv
import io
import os
import re
import select
from datetime import datetime

import psycopg
import sqlalchemy as sa
from psycopg import pq

from . import cells
from .base import BuildContext, ReportType

BATCH = 5000
BOM = "\ufeff".encode()


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DANGEROUS = frozenset("=+-@\t\r")


def escape_cell(value) -> str:
    """One cell of a CSV that Python writes (exports of the audit trail, the outbox), by the
    rules the reports follow in SQL (jobs/reports/cells.py): a text that starts like a
    formula gets a leading ``'``, a plain number does not; None is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and text[0] in _DANGEROUS and not _NUMBER.match(text):
        return "'" + text
    return text


def file_name(company_slug: str, report_key: str, start: datetime, end: datetime) -> str:
    fmt = "%Y%m%dT%H%M"
    return f"{company_slug}_{report_key}_{start.strftime(fmt)}-{end.strftime(fmt)}.csv"


def cells_statement(rtype: ReportType, ctx: BuildContext) -> sa.Select:
    """The report's statement whose columns are the CSV's cells, ``company`` first."""
    span = None if rtype.snapshot else (ctx.window_start, ctx.window_end)
    return cells.render(rtype.statement(ctx), rtype.columns, ctx, span)


def driver_sql(stmt: sa.Select, dialect) -> tuple[str, dict]:
    """The statement as its driver takes it: SQL text and bound values, each converted by
    its column type (a time to naive UTC, or to SQLite's text) as SQLAlchemy would.

    A statement SQLAlchemy can cache (same structure, other values: a report type's runs
    for other companies and windows) is compiled once per process, as SQLAlchemy's own
    statement cache does; its values are taken from each run's statement. A report with
    time columns renders its time zone's offsets for its window into the SQL (cells.py):
    compiled every time."""
    dialect = _driver_dialect(dialect)
    cache_key = stmt._generate_cache_key()  # None: a part of it cannot be cached
    compiled = None if cache_key is None else _COMPILED.get((dialect.name, cache_key.key))
    if compiled is None:
        compiled = stmt.compile(dialect=dialect, cache_key=cache_key)
        if cache_key is not None:
            if len(_COMPILED) >= CACHED:  # a few structures per report type: rare
                _COMPILED.clear()
            _COMPILED[(dialect.name, cache_key.key)] = compiled
    values = compiled.construct_params(
        extracted_parameters=None if cache_key is None else cache_key.bindparams,
        escape_names=False)
    # expanding IN lists and literal_execute values rendered, as at execution
    expanded = compiled.construct_expanded_state(values, escape_names=False)
    params = {}
    for name, value in expanded.parameters.items():
        # an expanded IN list's values are named after their parameter: name_1, name_2…
        bind = compiled.binds.get(name)
        if bind is None:
            bind = compiled.binds[name.rsplit("_", 1)[0]]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        params[name] = process(value) if process else value
    return expanded.statement, params


CACHED = 64  # compiled statements kept per process
_COMPILED: dict[tuple, sa.engine.Compiled] = {}
_DIALECTS: dict[type, sa.engine.Dialect] = {}


def _driver_dialect(dialect):
    """The dialect to compile for: SQLite's with named parameters (cells.py writes a column
    many times), made once."""
    if dialect.name != "sqlite":
        return dialect
    made = _DIALECTS.get(type(dialect))
    if made is None:
        made = _DIALECTS[type(dialect)] = type(dialect)(paramstyle="named")
    return made


def header(columns) -> bytes:
    line = io.StringIO()
    csv.writer(line, lineterminator="\r\n").writerow(["company", *columns])
    return line.getvalue().encode()


def write_report(path: str, session, rtype: ReportType, ctx: BuildContext,
                 excel_bom: bool = False) -> tuple[int, int]:
    """Build the report into ``path``, atomically (a temporary name, then a rename), in the
    session's transaction; return (row count, size in bytes)."""
    connection = session.connection()
    dialect = connection.dialect
    sql, params = driver_sql(cells_statement(rtype, ctx), dialect)
    driver = connection.connection.driver_connection
    tmp = f"{path}.part"
    try:
        with open(tmp, "wb") as fh:
            fh.write((BOM if excel_bom else b"") + header(rtype.columns))
            if dialect.name == "postgresql":
                count = _copy_postgresql(driver, sql, params, fh)
            else:
                count = _write_sqlite(driver, sql, params, fh)
    except BaseException:
        os.unlink(tmp)
        raise
    os.replace(tmp, path)
    return count, os.path.getsize(path)


def _copy_postgresql(driver, sql: str, params: dict, fh) -> int:
    """The server writes the CSV, one message a row ending in ``\\n`` (a newline inside a
    quoted cell stays as it is, as csv.writer leaves it), which becomes ``\\r\\n``.

    The rows are read with libpq's own call (``PQgetCopyData``, psycopg's ``pgconn``)
    rather than psycopg's ``Copy.read()``, which costs 2 µs a row in Python to this loop's
    0.5: as much as the server's own work for a small row. Non-blocking, waiting for the
    socket with ``select`` (which lets the run's heartbeat thread go on)."""
    with driver.cursor() as cur:
        # timestamps' text as cells.py expects it; UTF-8 whatever the database's default
        cur.execute("SELECT set_config('DateStyle', 'ISO, MDY', true), "
                    "set_config('client_encoding', 'UTF8', true)")
        query = psycopg.ClientCursor(driver).mogrify(
            f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params)
    pgconn = driver.pgconn
    pgconn.send_query(query.encode())
    result = _result(pgconn)
    if result.status != pq.ExecStatus.COPY_OUT:
        _raise(pgconn, result)
    get, socket, buf, count = pgconn.get_copy_data, pgconn.socket, bytearray(), 0
    while True:
        size, data = get(1)
        if size > 0:
            buf += data
            buf[-1:] = b"\r\n"
            count += 1
            if len(buf) > 1 << 20:
                fh.write(buf)
                buf.clear()
        elif size == 0:  # nothing yet
            select.select([socket], [], [])
            pgconn.consume_input()
        else:
            break
    fh.write(buf)
    result = _result(pgconn)
    if result.status != pq.ExecStatus.COMMAND_OK:
        _raise(pgconn, result)
    while pgconn.get_result() is not None:
        pass
    return count


def _result(pgconn):
    while pgconn.is_busy():
        select.select([pgconn.socket], [], [])
        pgconn.consume_input()
    return pgconn.get_result()


def _raise(pgconn, result):
    while pgconn.get_result() is not None:
        pass
    state = result.error_field(pq.DiagnosticField.SQLSTATE)
    try:
        error = psycopg.errors.lookup(state.decode())
    except (AttributeError, KeyError):  # no or unknown SQLSTATE
        error = psycopg.DatabaseError
    raise error(result.error_message.decode(errors="replace").strip())


def _write_sqlite(driver, sql: str, params: dict, fh) -> int:
    text = io.TextIOWrapper(fh, encoding="utf-8", newline="", write_through=False)
    writer = csv.writer(text, lineterminator="\r\n")
    cur = driver.cursor()
    count = 0
    try:
        cur.execute(sql, params)
        while rows := cur.fetchmany(BATCH):
            writer.writerows(rows)
            count += len(rows)
    finally:
        cur.close()
    text.flush()
    text.detach()
    return count
