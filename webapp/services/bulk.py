"""Bulk inserts through the driver, in the session's transaction: ``executemany`` on SQLite,
``COPY`` on PostgreSQL (the demo data, the benchmarks, an ingestion's new rows)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from ..extensions import db

CHUNK = 50_000


def db_time(value: datetime) -> str:
    """A UTC time as both databases store UTCDateTime (naive UTC, SQLAlchemy's format)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


# COPY's text format: a backslash, tab, newline or carriage return in a value is escaped
# (one translate, in C, rather than four replaces: it runs for every value of every row).
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    return str(value).translate(_COPY_ESCAPES)


def bulk_insert(table: str, columns: Sequence[str], rows: Iterable[Sequence],
                plain: bool = False, grow_cache: bool = True) -> int:
    """Insert rows of ready database values (times as ``db_time`` strings) through the driver, in
    the session's transaction: ``executemany`` on SQLite, ``COPY`` on PostgreSQL.
    ``plain``: the values are numbers and strings with nothing to escape for ``COPY``.
    ``grow_cache``: on SQLite, give the connection a 256 MB page cache for the indexes being
    filled (a one-off load); otherwise 64 MB until the connection is back in its pool."""
    connection = db.session.connection()
    raw = connection.connection.dbapi_connection
    count = 0
    cursor = raw.cursor()
    try:
        if connection.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                buffer = []
                for row in rows:
                    buffer.append("\t".join(map(str, row)) if plain
                                  else "\t".join(_copy_text(v) for v in row))
                    count += 1
                    if len(buffer) >= CHUNK:
                        copy.write("\n".join(buffer) + "\n")
                        buffer = []
                if buffer:
                    copy.write("\n".join(buffer) + "\n")
        else:
            # Room for the indexes being filled: their pages not evicted, written out and
            # read again within the load. A one-off load's connection keeps 256 MB; a pooled
            # one (an ingestion's batch) has 64 MB until it goes back to the pool
            # (extensions.py), so a web process's memory stays flat.
            if grow_cache:
                cursor.execute("PRAGMA cache_size = -262144")
            else:
                info = connection.connection.info
                info.setdefault("cache_size", cursor.execute("PRAGMA cache_size").fetchone()[0])
                cursor.execute("PRAGMA cache_size = -65536")
            sql = (f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - our names
                   f"VALUES ({', '.join('?' for _ in columns)})")
            batch = []
            for row in rows:
                batch.append(row)
                if len(batch) >= CHUNK:
                    cursor.executemany(sql, batch)
                    count += len(batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
                count += len(batch)
    finally:
        cursor.close()
    return count
