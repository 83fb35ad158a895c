"""Ingest benchmark (run by hand): ``.venv/bin/python bench/ingest.py [DATABASE_URL]``.

The same 1,000,000 messages (NDJSON, over 1,000 rooms and 500 accounts) loaded three ways
into a fresh database:

1. ``flask --app app data import --company A messages FILE`` (the CLI import);
2. ``POST /api/v1/ingest/messages`` to a running ``flask --app app serve`` (gunicorn), the
   file sent as the body with Content-Length, as company B;
3. the database's own bulk load of the same rows into the same table (``sqlite3``'s
   ``.import`` of a CSV, ``psql``'s ``\\copy``), as company C — the limit.

Printed: rows/s of each, HTTP/CLI and HTTP/bulk ratios (goals ≥ 0.8 and ≥ 0.3), and the
largest RSS growth of a gunicorn process while it ingested the body (goal < 100 MB).
The three load into the same table one after the other (CLI, HTTP, bulk), so each meets a
larger table than the one before: HTTP is never the one favoured.

Default database: a temporary SQLite file. A PostgreSQL URL names a database of its own:
everything in it is dropped first.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "1000000"))
ROOMS, ACCOUNTS = 1000, 500
PASSWORD = "correct horse battery"  # noqa: S105 - a throwaway bench company


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on the way out
    tmp = Path(tempfile.mkdtemp(prefix="herald-bench-ingest-"))
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp / 'bench.db'}"
    url = fresh_database(url)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"FLASK_DEBUG", "REDIS_URL", "DATABASE_URL", "FLASK_APP"}}
    env.update(SECRET_KEY=secrets.token_urlsafe(32),
               HERALD_ENCRYPTION_KEY=Fernet.generate_key().decode(), DATABASE_URL=url,
               REPORTS_DIR=str(tmp / "reports"), BASE_URL=f"http://127.0.0.1:{port}",
               PYTHONUNBUFFERED="1")

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    print(f"load average at start: {Path('/proc/loadavg').read_text().strip()}")
    print(f"database: {sa.make_url(url).render_as_string(hide_password=True)}")
    cli("db", "upgrade")
    base, messages = write_files(tmp)
    size_mb = messages.stat().st_size / 1e6
    print(f"{MESSAGES:,} messages: {size_mb:.0f} MB of NDJSON")
    slugs = {}
    for name in ("A", "B", "C"):
        slugs[name] = cli("companies", "create", f"Bench {name}", "--timezone", "Europe/London",
                          "--admin-email", f"admin@bench-{name.lower()}.example",
                          "--admin-password", PASSWORD).strip()
        for kind, path in base.items():
            cli("data", "import", "--company", slugs[name], kind, str(path))

    # 1. The CLI import.
    started = time.perf_counter()
    out = cli("data", "import", "--company", slugs["A"], "messages", str(messages))
    cli_s = time.perf_counter() - started
    assert out.strip().startswith(f"{MESSAGES} created"), out

    # 2. HTTP, to a running serve.
    token = cli("users", "token", "--company", slugs["B"], "admin@bench-b.example").strip()
    log = (tmp / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "serve", "--port",
                               str(port)], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(port, server)
        sampler = RssSampler(server.pid)
        sampler.start()
        time.sleep(1)
        with messages.open("rb") as body:
            started = time.perf_counter()
            response = requests.post(f"http://127.0.0.1:{port}/api/v1/ingest/messages",
                                     data=body, timeout=3600, headers={
                                         "Authorization": f"Bearer {token}",
                                         "Content-Type": "application/x-ndjson"})
            http_s = time.perf_counter() - started
        growth, peak = sampler.stop()
        answer = response.json()
        assert response.status_code == 200 and answer["created"] == MESSAGES, answer
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()

    # 3. The database's own bulk load.
    bulk_s, tool = bulk_load(url, slugs["C"], tmp)

    def rate(seconds: float) -> str:
        return f"{seconds:6.1f} s  {MESSAGES / seconds:9,.0f} rows/s"

    print(f"CLI  data import : {rate(cli_s)}")
    print(f"HTTP ingest      : {rate(http_s)}")
    print(f"bulk ({tool:9}): {rate(bulk_s)}")
    print(f"HTTP / CLI  = {cli_s / http_s:.2f}  (goal ≥ 0.8)")
    print(f"HTTP / bulk = {bulk_s / http_s:.2f}  (goal ≥ 0.3)")
    print(f"gunicorn RSS while ingesting {size_mb:.0f} MB: largest growth of a process "
          f"{growth / 1e6:.1f} MB, peak {peak / 1e6:.0f} MB  (goal: growth < 100 MB)")
    print(f"load average at end: {Path('/proc/loadavg').read_text().strip()}")


def fresh_database(url: str) -> str:
    """SQLite: the file as given. PostgreSQL: the database named, emptied first (its
    ``public`` schema dropped and made again), so that no other database is touched."""
    if not url.startswith(("postgresql", "postgres:")):
        return url
    parsed = sa.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1)
                         .replace("postgres://", "postgresql+psycopg://", 1))
    engine = sa.create_engine(parsed, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return parsed.render_as_string(hide_password=False)


def write_files(tmp: Path) -> tuple[dict[str, Path], Path]:
    rng = random.Random(7)
    base = {
        "org-units": [{"id": "ou1", "name": "Markets", "parent_id": None}],
        "users": [{"id": f"u{n}", "email": f"user{n}@bench.example", "name": f"User {n}",
                   "org_unit_id": "ou1"} for n in range(ACCOUNTS)],
        "accounts": [{"id": f"a{n}", "channel": "whatsapp", "identifier": f"+44770090{n:04d}",
                      "user_id": f"u{n}"} for n in range(ACCOUNTS)],
        "rooms": [{"id": f"r{n}", "channel": "whatsapp", "name": f"Room {n}",
                   "type": "group" if n % 3 else "direct", "org_unit_id": "ou1"}
                  for n in range(ROOMS)],
    }
    paths = {}
    for kind, records in base.items():
        paths[kind] = tmp / f"{kind}.ndjson"
        paths[kind].write_text("".join(json.dumps(r) + "\n" for r in records))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    messages = tmp / "messages.ndjson"
    with messages.open("w") as fh:
        for n in range(MESSAGES):
            at = start + timedelta(seconds=rng.randrange(30 * 86400))
            fh.write(json.dumps({"id": f"m{n}", "room_id": f"r{rng.randrange(ROOMS)}",
                                 "account_id": f"a{rng.randrange(ACCOUNTS)}",
                                 "direction": "sent" if n % 2 else "received",
                                 "sent_at": at.isoformat()}) + "\n")
    return paths, messages


def bulk_load(url: str, slug: str, tmp: Path) -> tuple[float, str]:
    """The same rows as CSV, loaded by the database's own client into ``messages``."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        company = conn.scalar(sa.text("SELECT id FROM companies WHERE slug = :s"), {"s": slug})
        rooms = dict(conn.execute(sa.text("SELECT external_id, id FROM rooms WHERE "
                                          "company_id = :c"), {"c": company}).all())
        accounts = dict(conn.execute(sa.text("SELECT external_id, id FROM accounts WHERE "
                                             "company_id = :c"), {"c": company}).all())
        next_id = conn.scalar(sa.text("SELECT coalesce(max(id), 0) + 1 FROM messages"))
    engine.dispose()
    csv = tmp / "messages.csv"
    with (tmp / "messages.ndjson").open() as src, csv.open("w") as out:
        for n, line in enumerate(src):
            r = json.loads(line)
            at = datetime.fromisoformat(r["sent_at"]).astimezone(UTC).replace(tzinfo=None)
            out.write(f"{next_id + n},{company},{r['id']},{rooms[r['room_id']]},"
                      f"{accounts[r['account_id']]},{r['direction']},{at.isoformat(' ')}\n")
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        argv = ["sqlite3", parsed.database, ".mode csv", f".import {csv} messages"]
        tool = "sqlite3"
    else:
        dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        argv = ["psql", "-q", "-v", "ON_ERROR_STOP=1", dsn, "-c",
                f"\\copy messages (id, company_id, external_id, room_id, account_id, direction, "
                f"sent_at) from '{csv}' with (format csv)"]
        tool = "psql copy"
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - started, tool


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("serve exited early")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2):  # noqa: S310
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("serve did not answer within 60 s")


class RssSampler(threading.Thread):
    """Samples the RSS of every gunicorn process under ``root`` until stopped."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.baseline: dict[int, int] = {}
        self.peak: dict[int, int] = {}
        self.running = True

    def run(self) -> None:
        while self.running:
            for pid, rss in gunicorn_rss(self.root).items():
                self.baseline.setdefault(pid, rss)
                self.peak[pid] = max(self.peak.get(pid, 0), rss)
            time.sleep(0.1)

    def stop(self) -> tuple[int, int]:
        self.running = False
        self.join()
        growth = max(self.peak[pid] - self.baseline[pid] for pid in self.peak)
        return growth, max(self.peak.values())


def gunicorn_rss(root: int) -> dict[int, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"gunicorn" not in (entry / "cmdline").read_bytes():
                continue
            status = (entry / "status").read_text()
        except OSError:
            continue
        if f"PPid:\t{root}" in status or _descends(int(entry.name), root):
            line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
            found[int(entry.name)] = int(line.split()[1]) * 1024
    return found


def _descends(pid: int, root: int) -> bool:
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
        if pid == root:
            return True
    return False


if __name__ == "__main__":
    main()
