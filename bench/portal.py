"""Portal and API at scale (run by hand): ``.venv/bin/python bench/portal.py [DATABASE_URL]``.

``flask --app app serve`` (gunicorn, as in production) on loopback, a company with 100 tasks
(created through the API), and its history bulk-inserted (bench/portal_data.py): first
``--runs``/10 runs and ``--events``/10 audit events, then the rest up to ``--runs`` (default
100,000) and ``--events`` (default 1,000,000). At each of the two sizes, 16 clients
(``--clients``), each one request at a time with no pause (a closed, bounded load: the
server's saturation), or with ``--pace S`` each every S seconds (an offered rate of clients/S
requests/s: the latency users meet at that load), ask ``--requests`` (default 320) times for
each page: the task list, a task's page (its first
runs), an older page of its run history, the audit log, an older page of it and the log
filtered by action, by actor and by a family of actions, and the API's equivalents by bearer
token. Printed: p50/p95/p99 and requests/s per page, each p95 against
its goal (page ≤ 50 ms; API list ≤ 1.2 × its page), how the p95 moved from the small history
to the large one, and the load average (the machine may be shared).

My reports (``/my/reports``) is measured when the branch has it (a 404 skips it).

Default database: a temporary SQLite file. A PostgreSQL URL names a server: a database
``herald_bench_portal`` is dropped and created on it (``--own-database``: the URL's database
is used instead, its schema emptied).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent))

import portal_data  # noqa: E402
from ingest import free_port, wait_until_up  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"  # noqa: S105 - a throwaway bench company
ADMIN = "admin@bench-portal.example"
PAGE_GOAL_MS = 50
API_RATIO_GOAL = 1.2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=320)
    parser.add_argument("--pace", type=float, default=0.0,
                        help="seconds from one request of a client to its next (a paced, open "
                             "load of clients/pace requests/s); 0: each asks again at once")
    parser.add_argument("--own-database", action="store_true",
                        help="PostgreSQL: empty and use the URL's database (a shared server)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on the way out
    tmp = Path(tempfile.mkdtemp(prefix="herald-bench-portal-"))
    url = fresh_database(args.url or f"sqlite:///{tmp / 'bench.db'}", args.own_database)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if k not in {"FLASK_DEBUG", "REDIS_URL", "DATABASE_URL", "FLASK_APP"}}
    env.update(SECRET_KEY=secrets.token_urlsafe(32), DATABASE_URL=url,
               HERALD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
               REPORTS_DIR=str(tmp / "reports"), BASE_URL=base, PYTHONUNBUFFERED="1")
    print(f"load average at start: {loadavg()}")
    print(f"database: {sa.make_url(url).render_as_string(hide_password=True)}")
    cli(env, "db", "upgrade")
    slug = cli(env, "companies", "create", "Bench Portal", "--timezone", "Europe/London",
               "--admin-email", ADMIN, "--admin-password", PASSWORD).strip()
    token = cli(env, "users", "token", "--company", slug, ADMIN).strip()
    log = (tmp / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "serve", "--port",
                               str(port)], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(port, server)
        api = {"Authorization": f"Bearer {token}"}
        for n in range(100):
            answer = requests.post(f"{base}/api/v1/tasks", headers=api, timeout=60,
                                   json=task_payload(n))
            assert answer.status_code == 201, answer.text
        company, user, tasks = portal_data.ids(url, slug, ADMIN)
        cookies = login(base)
        results, loaded, targets = {}, {"runs": 0, "events": 0}, {}
        for size in (10, 1):
            runs, events = args.runs // size, args.events // size
            started = time.perf_counter()
            portal_data.insert(url, "runs", portal_data.RUN_COLUMNS, portal_data.runs(
                company, tasks, loaded["runs"], runs - loaded["runs"]))
            portal_data.insert(url, "audit_events", portal_data.AUDIT_COLUMNS, portal_data.events(
                company, user, ADMIN, loaded["events"], events - loaded["events"]))
            loaded = {"runs": runs, "events": events}
            print(f"\nhistory: {runs:,} runs, {events:,} audit events (loaded in "
                  f"{time.perf_counter() - started:.0f} s); load average {loadavg()}")
            found = pages(base, url, company, tasks[0], api, cookies)
            targets = {name: target for name, (_, _, target) in found.items()}
            results[size] = measure(base, found, args.clients, args.requests, args.pace)
        report(results, targets, args)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    print(f"load average at end: {loadavg()}")


def cli(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def fresh_database(url: str, own: bool = False) -> str:
    """The URL to run on: SQLite's as given; on PostgreSQL the database herald_bench_portal,
    dropped and created, or with ``own`` the URL's own database with its schema emptied."""
    if not url.startswith(("postgresql", "postgres:")):
        return url
    parsed = sa.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1)
                         .replace("postgres://", "postgresql+psycopg://", 1))
    engine = sa.create_engine(parsed, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if own:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        else:
            conn.execute(sa.text("DROP DATABASE IF EXISTS herald_bench_portal WITH (FORCE)"))
            conn.execute(sa.text("CREATE DATABASE herald_bench_portal"))
    engine.dispose()
    if not own:
        parsed = parsed.set(database="herald_bench_portal")
    return parsed.render_as_string(hide_password=False)


def login(base: str) -> dict:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=30).text
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = session.post(f"{base}/login", timeout=30, data={
        "email": ADMIN, "password": PASSWORD, "csrf_token": csrf})
    assert answer.ok and "/login" not in answer.url, answer.url
    return session.cookies.get_dict()


def page_paths(url: str, company: int, task: int) -> dict[str, tuple[str, str | None]]:
    """Each page measured: its path, and for an API list the portal page it is held to."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:  # a cursor halfway through the history
        run = conn.scalar(sa.text("SELECT id FROM runs WHERE task_id = :t ORDER BY id LIMIT 1 "
                                  "OFFSET (SELECT count(*) / 2 FROM runs WHERE task_id = :t)"),
                          {"t": task})
        event = conn.scalar(sa.text("SELECT max(id) / 2 FROM audit_events WHERE company_id = :c"),
                            {"c": company})
    engine.dispose()
    return {
        "floor: /healthz": ("/healthz", None),  # the stack's own cost, no page behind it
        "task list": ("/tasks", None),
        "task page": (f"/tasks/{task}", None),
        "run history (older page)": (f"/tasks/{task}?cursor={run}", None),
        "audit log": ("/admin/audit", None),
        "audit log (older page)": (f"/admin/audit?cursor={event}", None),
        "audit log by action": ("/admin/audit?action=role.assign", None),
        "audit log by actor": ("/admin/audit?actor=SYSTEM", None),
        "audit log by family": ("/admin/audit?action=task", None),
        "My reports": ("/my/reports", None),
        "API task list": ("/api/v1/tasks", "task list"),
        "API task": (f"/api/v1/tasks/{task}", "task page"),
        "API run history (older page)": (f"/api/v1/tasks/{task}/runs?cursor={run}",
                                         "run history (older page)"),
        "API audit": ("/api/v1/audit", "audit log"),
        "API audit (older page)": (f"/api/v1/audit?cursor={event}", "audit log (older page)"),
        "API audit by action": ("/api/v1/audit?action=role.assign", "audit log by action"),
        "API audit by actor": ("/api/v1/audit?actor=SYSTEM", "audit log by actor"),
    }


def task_payload(n: int) -> dict:
    """The bench company's n-th task, as POST /api/v1/tasks takes it (60 of 100 active)."""
    return {"name": f"Bench task {n:03d}", "report_type": "usage_by_rooms",
            "channels": ["whatsapp"], "schedule": {"kind": "daily", "time": "06:30"},
            "recipients": {"emails": [f"ops{n}@bench-portal.example"]}, "active": n < 60}


def pages(base: str, url: str, company: int, task: int, api: dict, cookies: dict) -> dict:
    """Each page: (path, how it authenticates, the portal page an API list is held to)."""
    found = {name: (path, api if target else cookies, target)
             for name, (path, target) in page_paths(url, company, task).items()}
    for name, (path, auth, _) in list(found.items()):
        answer = request(requests.Session(), base + path, auth)
        if answer.status_code == 404 and name == "My reports":
            print("My reports: /my/reports is not on this branch (404), skipped")
            del found[name]
            continue
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    return found


def request(session: requests.Session, url: str, auth: dict) -> requests.Response:
    if "Authorization" in auth:
        return session.get(url, headers=auth, timeout=60, allow_redirects=False)
    return session.get(url, cookies=auth, timeout=60, allow_redirects=False)


def measure(base: str, found: dict, clients: int, count: int, pace: float = 0.0) -> dict:
    """Per page: the sorted latencies (ms) and requests/s, ``clients`` threads asking at once:
    each again as soon as answered, or (``pace``) every ``pace`` seconds from a random start
    (a request answered late is followed at once, never by a burst)."""
    out = {}
    for name, (path, auth, _) in found.items():
        times: list[float] = []
        lock = threading.Lock()
        share = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]

        def client(n: int, path=path, auth=auth, times=times, lock=lock) -> None:
            session = requests.Session()
            request(session, base + path, auth)  # the connection is open before timing
            due = time.perf_counter() + random.uniform(0, pace)
            for _ in range(n):
                time.sleep(max(0.0, due - time.perf_counter()))
                started = time.perf_counter()
                due = max(due + pace, started)
                answer = request(session, base + path, auth)
                elapsed = (time.perf_counter() - started) * 1000
                assert answer.status_code == 200, (path, answer.status_code)
                with lock:
                    times.append(elapsed)

        threads = [threading.Thread(target=client, args=(n,)) for n in share]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        out[name] = (sorted(times), len(times) / wall)
    return out


def pct(times: list[float], p: float) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[p - 1]


def report(results: dict, targets: dict, args) -> None:
    small, large = results[10], results[1]
    load = (f"each every {args.pace:g} s ({args.clients / args.pace:.0f} requests/s offered)"
            if args.pace else "each asking again as soon as answered")
    print(f"\n{args.clients} clients, {load}; {args.requests} requests per page; goals: page p95 ≤ "
          f"{PAGE_GOAL_MS} ms, API list p95 ≤ {API_RATIO_GOAL} × its page's; load average "
          f"{loadavg()}")
    print(f"{'page':30} {'p50':>7} {'p95':>7} {'p99':>7} {'req/s':>7}  {'p95/goal':>8}  "
          f"{'p95 large/small':>15}")
    for name, (times, rate) in large.items():
        p95 = pct(times, 95)
        target = targets.get(name)
        goal = API_RATIO_GOAL * pct(large[target][0], 95) if target else PAGE_GOAL_MS
        growth = p95 / pct(small[name][0], 95)
        print(f"{name:30} {pct(times, 50):7.1f} {p95:7.1f} {pct(times, 99):7.1f} {rate:7.0f}  "
              f"{p95 / goal:8.2f}  {growth:15.2f}")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
