"""Report build benchmarks (run by hand; prints figures and ratios, asserts nothing).

    .venv/bin/python bench/report_build.py                      # SQLite
    .venv/bin/python bench/report_build.py --pg postgresql://postgres@127.0.0.1:5432/bench

1. ``usage_by_rooms``, 1,000,000 messages in the window over 10,000 rooms: Herald's whole
   build (query, streaming, escaping, CSV file) against the database's own command-line
   client writing the same aggregation as CSV into a file — ``sqlite3 -csv`` (Debian package
   ``sqlite3``) or ``psql``'s ``\\copy``. Goal: at most 1.3 times the client's time.
2. ``room_metadata``, 1,000,000 rooms: the build's peak RSS above the process's baseline,
   measured in a fresh child process. Goal: under 100 MB.
3. The demo generator's rate in rows per second.

The database is created from scratch (a temporary SQLite file, or the PostgreSQL database
given, whose tables are dropped and created again). Each timing is the best of ``--repeat``
runs; the whole script takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WINDOW_END = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
WINDOW_START = WINDOW_END - timedelta(days=7)
CHANNELS = ("whatsapp", "imessage", "sms")


def make_app(url: str):
    from cryptography.fernet import Fernet

    from webapp import create_app

    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                       "HERALD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                       "REDIS_URL": None})


def sa_url(url: str) -> str:
    return "postgresql+psycopg://" + url[len("postgresql://"):] \
        if url.startswith("postgresql://") else url


def ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def load_usage_data(company_id: int, rooms: int, messages: int) -> None:
    from webapp.extensions import db
    from webapp.models import Message
    from webapp.services.demo import bulk_insert

    rng = random.Random(1)
    bulk_insert("org_units", ("company_id", "external_id", "name", "parent_id"),
                [(company_id, f"ou{i}", f"Unit {i}", None) for i in range(20)])
    unit_ids = [i for (i,) in db.session.execute(db.text(
        "SELECT id FROM org_units WHERE company_id = :c"), {"c": company_id})]
    bulk_insert("accounts", ("company_id", "external_id", "channel", "identifier", "status"),
                [(company_id, f"a{i}", CHANNELS[i % 3], f"+4477009{i:05d}", "connected")
                 for i in range(300)])
    bulk_insert("rooms", ("company_id", "external_id", "channel", "name", "type",
                          "org_unit_id", "governed", "participants", "internal_participants",
                          "external_participants"),
                ((company_id, f"room-{i:06d}", CHANNELS[i % 3], f"Room {i}",
                  "group" if i % 4 == 0 else "direct", rng.choice(unit_ids), True, 2, 1, 1)
                 for i in range(rooms)))
    room_ids = [i for (i,) in db.session.execute(db.text(
        "SELECT id FROM rooms WHERE company_id = :c ORDER BY id"), {"c": company_id})]
    account_ids = [i for (i,) in db.session.execute(db.text(
        "SELECT id FROM accounts WHERE company_id = :c ORDER BY id"), {"c": company_id})]
    span = int((WINDOW_END - WINDOW_START).total_seconds())
    connection = db.session.connection()
    indexes = list(Message.__table__.indexes)
    for index in indexes:
        index.drop(connection)
    bulk_insert("messages", ("company_id", "external_id", "room_id", "account_id",
                             "direction", "sent_at"),
                ((company_id, f"m{n:09d}", rng.choice(room_ids), rng.choice(account_ids),
                  "sent" if rng.random() < 0.45 else "received",
                  ts(WINDOW_START + timedelta(seconds=1 + int(rng.random() * (span - 1)))))
                 for n in range(messages)), plain=True)
    for index in indexes:
        index.create(connection)
    db.session.commit()


def usage_context(company_id: int):
    from jobs.reports.base import BuildContext

    return BuildContext(company_id=company_id, company_name="Bench Co", channels=CHANNELS,
                        window_start=WINDOW_START, window_end=WINDOW_END,
                        timezone=ZoneInfo("Europe/London"))


def sqlite_client_script(app, company_id: int, out: Path) -> str:
    """Herald's own usage_by_rooms statement, exactly as it reaches the driver (SQL and
    bound values), as a script for the sqlite3 shell."""
    import sqlalchemy as sa

    from jobs.reports import registry
    from webapp.extensions import db

    captured = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", capture)
        try:
            db.session.execute(registry.get("usage_by_rooms").statement(
                usage_context(company_id))).fetchall()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", capture)
            db.session.remove()
    sql, params = captured[-1]
    parts = sql.split("?")
    sql = "".join(part + (f"?{i}" if i < len(parts) else "")
                  for i, part in enumerate(parts, start=1))
    lines = []
    for i, value in enumerate(params, start=1):
        literal = str(value) if isinstance(value, int) else "'" + str(value).replace(
            "'", "''") + "'"
        lines.append(f'.parameter set ?{i} "{literal}"')
    return "\n".join([*lines, ".mode csv", ".headers on", f".output {out}",
                      sql.replace("\n", " ") + ";", ""])


def postgres_client_sql(app, company_id: int) -> str:
    """Herald's own usage_by_rooms statement with its values inlined, for psql."""
    from jobs.reports import registry
    from webapp.extensions import db

    stmt = registry.get("usage_by_rooms").statement(usage_context(company_id))
    with app.app_context():
        return str(stmt.compile(dialect=db.engine.dialect,
                                compile_kwargs={"literal_binds": True})).replace("\n", " ")


def best_of(repeat: int, *fns) -> list[float]:
    """The best time of each function over ``repeat`` rounds, the functions taking turns (in
    an order reversed every other round) so that a busy machine slows them alike."""
    best = [float("inf")] * len(fns)
    for round_ in range(repeat):
        order = list(enumerate(fns))
        for i, fn in (order if round_ % 2 == 0 else reversed(order)):
            started = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def herald_build(app, key: str, company_id: int, company_name: str, path: Path,
                 start=WINDOW_START, end=WINDOW_END, channels=CHANNELS) -> int:
    from jobs.reports import registry
    from jobs.reports.base import BuildContext
    from jobs.reports.csv import write_csv
    from webapp.extensions import db

    rtype = registry.get(key)
    ctx = BuildContext(company_id=company_id, company_name=company_name, channels=channels,
                       window_start=start, window_end=end, timezone=ZoneInfo("Europe/London"))
    with app.app_context():
        count, _size = write_csv(str(path), company_name, rtype.columns,
                                 rtype.rows(db.session, ctx))
        db.session.remove()
    return count


def usage_child(spec: dict) -> None:
    """Herald's usage_by_rooms build and the database's shell running the same statement,
    taking turns; prints rows, both best times and the shell's name."""
    app = make_app(spec["url"])
    workdir = Path(spec["workdir"])
    herald_csv, client_csv = workdir / "herald.csv", workdir / "client.csv"
    company_id = spec["company"]
    rows = herald_build(app, "usage_by_rooms", company_id, "Bench Co", herald_csv)
    if spec["pg"]:
        sql = postgres_client_sql(app, company_id)
        command = ["psql", spec["pg"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                   f"\\copy ({sql}) TO '{client_csv}' WITH (FORMAT csv, HEADER)"]
        client_name, script = "psql \\copy", None
    else:
        if not shutil.which("sqlite3"):
            sys.exit("The sqlite3 command-line tool is needed: apt-get install sqlite3")
        command = ["sqlite3", spec["db"]]
        client_name = "sqlite3 shell, .mode csv"
        script = sqlite_client_script(app, company_id, client_csv)

    def run_client():
        subprocess.run(command, check=True, input=script, text=True)

    run_client()
    herald, client = best_of(spec["repeat"], lambda: herald_build(
        app, "usage_by_rooms", company_id, "Bench Co", herald_csv), run_client)
    client_rows = sum(1 for _ in open(client_csv, encoding="utf-8")) - 1
    assert client_rows == rows, (client_rows, rows)
    print(f"{rows}\t{herald}\t{client}\t{client_name}")


def rss_child(url: str, company_id: int) -> None:
    """In a fresh process: baseline RSS after start-up, then the room_metadata build."""
    app = make_app(url)
    import jobs.reports.registry  # noqa: F401 - imported before the baseline
    from webapp.extensions import db

    with app.app_context():  # connect and warm up before the baseline
        db.session.execute(db.text("SELECT 1"))
        db.session.remove()
    baseline = _vm("VmRSS")
    out = Path(tempfile.mkdtemp(prefix="herald-bench-")) / "rooms.csv"
    started = time.perf_counter()
    rows = herald_build(app, "room_metadata", company_id, "Rooms Co", out,
                        start=WINDOW_END, end=WINDOW_END,
                        channels=("whatsapp", "imessage", "sms", "wecom"))
    elapsed = time.perf_counter() - started
    # VmHWM: this process's own peak (ru_maxrss would carry the parent's over exec)
    peak = _vm("VmHWM")
    print(f"{rows} {elapsed:.2f} {baseline} {peak} {out.stat().st_size}")
    shutil.rmtree(out.parent)


def _vm(field: str) -> int:
    """A /proc/self/status figure in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", help="PostgreSQL URL of a database to (re)create tables in")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=10_000)
    parser.add_argument("--metadata-rooms", type=int, default=1_000_000)
    parser.add_argument("--demo-messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=6)
    parser.add_argument("--keep", action="store_true",
                        help="keep the SQLite database (its path is printed)")
    parser.add_argument("--rss-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--usage-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.usage_child:
        usage_child(json.loads(args.usage_child))
        return
    if args.rss_child:
        rss_child(args.rss_child[0], int(args.rss_child[1]))
        return

    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores")
    workdir = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    url = sa_url(args.pg) if args.pg else f"sqlite:///{workdir / 'bench.db'}"
    kind = "PostgreSQL" if args.pg else "SQLite"
    app = make_app(url)
    from webapp.extensions import db
    from webapp.services.demo import bulk_insert, seed
    from webapp.services.people import create_company

    try:
        with app.app_context():
            db.drop_all()
            db.create_all()
            usage = create_company("Bench Co", "Europe/London", "admin@bench.example",
                                   "bench-password")
            rooms_co = create_company("Rooms Co", "Europe/London", "admin@rooms.example",
                                      "bench-password")
            demo_co = create_company("Demo Co", "Europe/London", "admin@demo.example",
                                     "bench-password")
            db.session.commit()
            usage_id, rooms_id, demo_id = usage.id, rooms_co.id, demo_co.id

            started = time.perf_counter()
            load_usage_data(usage_id, args.rooms, args.messages)
            print(f"[{kind}] loaded {args.messages:,} messages over {args.rooms:,} rooms in "
                  f"{time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            bulk_insert("rooms", ("company_id", "external_id", "channel", "name", "type",
                                  "governed", "created_at", "participants",
                                  "internal_participants", "external_participants"),
                        ((rooms_id, f"room-{i:07d}", CHANNELS[i % 3], f"Room {i} — desk",
                          "direct", True, ts(WINDOW_START), 2, 1, 1)
                         for i in range(args.metadata_rooms)))
            db.session.commit()
            print(f"[{kind}] loaded {args.metadata_rooms:,} rooms in "
                  f"{time.perf_counter() - started:.1f} s")
            if args.pg:
                db.session.execute(db.text("ANALYZE"))
                db.session.commit()
            db.session.remove()

        # 1. usage_by_rooms against the database's client, in a fresh process (as a worker
        # would build it; not in this one, whose heap the loading above has grown)
        out = subprocess.run([sys.executable, __file__, "--usage-child", json.dumps(
            {"url": url, "pg": args.pg, "db": str(workdir / "bench.db"), "company": usage_id,
             "repeat": args.repeat, "workdir": str(workdir)})],
            check=True, capture_output=True, text=True).stdout.strip().split("\t")
        rows, herald, client, client_name = int(out[0]), float(out[1]), float(out[2]), out[3]
        print(f"[{kind}] usage_by_rooms, {args.messages:,} messages / {args.rooms:,} rooms "
              f"-> {rows:,} rows: Herald {herald:.3f} s, {client_name} {client:.3f} s, "
              f"ratio {herald / client:.2f}x (goal <= 1.3x)")

        # 2. room_metadata's memory, in a fresh process
        out = subprocess.run([sys.executable, __file__, "--rss-child", url, str(rooms_id)],
                             check=True, capture_output=True, text=True).stdout.split()
        count, elapsed, baseline, peak, size = int(out[0]), float(out[1]), *map(int, out[2:])
        print(f"[{kind}] room_metadata, {count:,} rooms ({size / 1e6:.0f} MB CSV) in "
              f"{elapsed:.1f} s: baseline RSS {baseline / 1024:.0f} MB, peak "
              f"{peak / 1024:.0f} MB, growth {(peak - baseline) / 1024:.1f} MB "
              "(goal < 100 MB)")

        # 3. the demo generator
        with app.app_context():
            company = db.session.get(type(usage), demo_id)
            started = time.perf_counter()
            counts = seed(company, now=WINDOW_END, days=14, messages=args.demo_messages)
            db.session.commit()
            elapsed = time.perf_counter() - started
            total = sum(counts.values())
            print(f"[{kind}] demo seed, {args.demo_messages:,} messages ({total:,} rows) in "
                  f"{elapsed:.1f} s: {total / elapsed:,.0f} rows/s")
            db.session.remove()
            if args.pg:
                db.drop_all()
            db.engine.dispose()
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
