"""Report build benchmarks (run by hand; prints figures and ratios, asserts nothing).

    .venv/bin/python bench/report_build.py                      # SQLite
    .venv/bin/python bench/report_build.py --pg postgresql://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/report_build.py --rows 100000        # a quick run

Every creatable report type, output-heavy (``--rows`` output rows, 1,000,000 by default)
and, where the type aggregates or looks up more than it writes, input-heavy (``--rows``
messages or violations in, few rows out). Each build is Herald's whole build (statement,
the database writing the cells, the CSV file) against the database's own shell running
the very same statement, with the same values, into a CSV file: ``sqlite3`` with
``.mode csv`` (Debian package ``sqlite3``), or ``psql``'s ``\\copy``. Best of
``--repeat``, the two taking turns, in a fresh process per case (a worker's heap, not
that of the process that loaded the data), which also reports its peak RSS above its
baseline. Goals: PostgreSQL ≤ 1.3× psql, SQLite ≤ 4× the shell, RSS growth < 100 MB.

The database is created from scratch (a temporary SQLite file, or the PostgreSQL database
given, whose tables are dropped and created again).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from report_data import CHANNELS, WINDOW_END, WINDOW_START, ZONE, load  # noqa: E402

# (report type, company, task options, what it shows): "big" has --rows of everything and
# its reports write --rows rows; "dense" has --rows messages and violations over 10k
# rooms, 300 accounts and 1,000 policies, so that its reports read much and write little.
# A listing (irregularities, export emails, accounts) reads what it writes.
CASES = [
    ("native_connection_status", "big", {}, "1 row per account"),
    ("whatsapp_inactivity", "big", {}, "every account inactive"),
    ("whatsapp_inactivity", "dense", {"inactivity_days": 1}, "accounts with messages"),
    ("usage_by_rooms", "big", {}, "1 message per room"),
    ("usage_by_rooms", "dense", {}, "messages over 10k rooms"),
    ("usage_by_users", "big", {}, "1 row per account"),
    ("usage_by_users", "dense", {}, "messages over 300 accounts"),
    ("communication_compliance", "big", {}, "1 violation per group"),
    ("communication_compliance", "dense", {}, "violations into 1k groups"),
    ("native_irregularities", "big", {}, "1 row per event"),
    ("wecom_irregularities", "big", {}, "1 row per event"),
    ("wecom_irregularities", "big", {"org_unit_ids": ["ou3"]}, "org unit filter, 1 in 20"),
    ("archive_export_email_summary", "big", {}, "1 row per email"),
    ("room_metadata", "big", {}, "last message per room"),
    ("room_metadata", "dense", {}, "messages over 10k rooms"),
]

def make_app(url: str):
    from cryptography.fernet import Fernet

    from webapp import create_app

    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                       "HERALD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                       "REDIS_URL": None})


def sa_url(url: str) -> str:
    return "postgresql+psycopg://" + url[len("postgresql://"):] \
        if url.startswith("postgresql://") else url


def context(rtype, company_id: int, options: dict):
    from jobs.reports.base import BuildContext

    start = WINDOW_END if rtype.snapshot else WINDOW_START
    return BuildContext(company_id=company_id, company_name="Bench Co",
                        channels=tuple(c for c in rtype.channels if c in (*CHANNELS, "wecom")),
                        window_start=start, window_end=WINDOW_END, timezone=ZoneInfo(ZONE),
                        options=options)


def shell_sql(app, rtype, ctx) -> str:
    """The statement Herald runs, on one line, with its values written in (by psycopg's
    own client-side binding on PostgreSQL, as its COPY does)."""
    from jobs.reports.csv import cells_statement, driver_sql
    from webapp.extensions import db

    with app.app_context():
        connection = db.session.connection()
        dialect = connection.dialect
        sql, params = driver_sql(cells_statement(rtype, ctx), dialect)
        if dialect.name == "postgresql":
            import psycopg

            raw = connection.connection.driver_connection
            sql = psycopg.ClientCursor(raw).mogrify(sql, params)
        else:
            sql = re.sub(r":(\w+)", lambda m: sqlite_literal(params[m[1]])
                         if m[1] in params else m[0], sql)
        db.session.remove()
    return " ".join(sql.split("\n"))


def sqlite_literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


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


def case_child(spec: dict) -> None:
    """In a fresh process: Herald's build of one case and the database's shell running the
    same statement, taking turns; prints JSON with rows, both times and the RSS growth."""
    app = make_app(spec["url"])
    from jobs.reports import registry
    from jobs.reports.csv import write_report
    from webapp.extensions import db

    rtype = registry.get(spec["key"])
    ctx = context(rtype, spec["company"], spec["options"])
    workdir = Path(spec["workdir"])
    herald_csv, shell_csv = workdir / "herald.csv", workdir / "shell.csv"
    sql = shell_sql(app, rtype, ctx)
    with app.app_context():  # connect and warm up before the baseline
        db.session.execute(db.text("SELECT 1"))
        db.session.remove()
    baseline = _vm("VmRSS")

    def herald():
        with app.app_context():
            count, _size = write_report(str(herald_csv), db.session, rtype, ctx)
            db.session.commit()
            db.session.remove()
        return count

    if spec["pg"]:
        command = ["psql", spec["pg"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                   f"\\copy ({sql}) TO '{shell_csv}' WITH (FORMAT csv)"]
        script = None
    else:
        command = ["sqlite3", spec["db"]]
        script = f".mode csv\n.headers off\n.output {shell_csv}\n{sql};\n"

    def shell():
        subprocess.run(command, check=True, input=script, text=True)

    rows = herald()
    shell()
    herald_time, shell_time = best_of(spec["repeat"], herald, shell)
    peak = _vm("VmHWM")  # this process's own peak (ru_maxrss would carry the parent's)
    herald_bytes, shell_bytes = herald_csv.read_bytes(), shell_csv.read_bytes()
    shell_rows = shell_bytes.count(b"\n")  # the bench's data has no newline in a cell
    assert shell_rows == rows, (shell_rows, rows)
    if spec["pg"]:  # the same bytes, but for the header and the line ends
        assert herald_bytes.split(b"\r\n", 1)[1] == shell_bytes.replace(b"\n", b"\r\n")
    print(json.dumps({"rows": rows, "herald": herald_time, "shell": shell_time,
                      "rss_mb": (peak - baseline) / 1024, "mb": len(herald_bytes) / 1e6}))


def _vm(field: str) -> int:
    """A /proc/self/status figure in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", help="PostgreSQL URL of a database to (re)create tables in")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="comma-separated report keys")
    parser.add_argument("--keep", action="store_true",
                        help="keep the data (SQLite: its path is printed)")
    parser.add_argument("--case-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case_child:
        case_child(json.loads(args.case_child))
        return
    if not args.pg and not shutil.which("sqlite3"):
        sys.exit("The sqlite3 command-line tool is needed: apt-get install sqlite3")

    kind = "PostgreSQL" if args.pg else "SQLite"
    print(f"[{kind}] load average at start: {open('/proc/loadavg').read().strip()} "
          f"on {os.cpu_count()} cores")
    workdir = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    url = sa_url(args.pg) if args.pg else f"sqlite:///{workdir / 'bench.db'}"
    app = make_app(url)
    from webapp.extensions import db
    from webapp.services.people import create_company

    try:
        with app.app_context():
            db.drop_all()
            db.create_all()
            companies = {}
            for name in ("big", "dense"):
                company = create_company(f"Bench {name}", ZONE, f"admin@{name}.example",
                                         "bench-password")
                db.session.commit()
                started = time.perf_counter()
                load(company.id, args.rows, dense=name == "dense")
                db.session.commit()
                companies[name] = company.id
                print(f"[{kind}] loaded company {name!r} ({args.rows:,} rows a kind) in "
                      f"{time.perf_counter() - started:.0f} s")
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
            db.session.remove()
            db.engine.dispose()

        print(f"{'report type':30} {'case':28} {'rows':>9} {'MB':>5} {'Herald':>7} "
              f"{'shell':>7} {'ratio':>6} {'RSS+MB':>6}")
        only = set(args.only.split(",")) if args.only else None
        ratios = []
        for key, company, options, label in CASES:
            if only and key not in only:
                continue
            spec = {"url": url, "pg": args.pg, "db": str(workdir / "bench.db"),
                    "company": companies[company], "key": key, "options": options,
                    "repeat": args.repeat, "workdir": str(workdir)}
            out = json.loads(subprocess.run(
                [sys.executable, __file__, "--case-child", json.dumps(spec)],
                check=True, capture_output=True, text=True).stdout)
            ratio = out["herald"] / out["shell"]
            ratios.append(ratio)
            print(f"{key:30} {label:28} {out['rows']:>9,} {out['mb']:>5.0f} "
                  f"{out['herald']:>6.2f}s {out['shell']:>6.2f}s {ratio:>5.2f}x "
                  f"{out['rss_mb']:>6.1f}", flush=True)
        goal = 1.3 if args.pg else 4.0
        print(f"[{kind}] worst ratio {max(ratios, default=0):.2f}x (goal <= {goal}x); load "
              f"average at end: {open('/proc/loadavg').read().strip()}")
        if args.pg and not args.keep:
            with app.app_context():
                db.drop_all()
                db.engine.dispose()
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
