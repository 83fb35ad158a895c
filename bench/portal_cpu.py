"""CPU per page in process (run by hand): ``.venv/bin/python bench/portal_cpu.py [DATABASE_URL]``.

The pages bench/portal.py measures under load, asked one at a time through Flask's test client
in this process, so that what a page costs is seen without the run queue: process CPU ms per
request after ``--warm`` requests: the least and the median mean of batches of 5 (``--repeat``
in all; on a shared machine the least is nearest the page's own cost). A smaller history than
portal.py's will do (``--runs``, ``--events``): every list is a keyset page, its cost does not
depend on it.
``--profile NAME`` prints cProfile's top functions for that page (e.g. "task list").
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent))

import portal  # noqa: E402
import portal_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--profile", action="append", default=[])
    parser.add_argument("--own-database", action="store_true")
    args = parser.parse_args()
    app, web, api, auth, found, tmp = setup(args)
    measure(args, web, api, auth, found)
    subprocess.run(["rm", "-rf", str(tmp)], check=False)


def setup(args):
    """The app, its clients (portal, API and the API's headers), the pages, the folder."""
    tmp = Path(tempfile.mkdtemp(prefix="herald-bench-cpu-"))
    url = portal.fresh_database(args.url or f"sqlite:///{tmp / 'bench.db'}", args.own_database)
    for name in ("FLASK_DEBUG", "REDIS_URL", "FLASK_APP"):
        os.environ.pop(name, None)
    os.environ.update(SECRET_KEY=secrets.token_urlsafe(32), DATABASE_URL=url,
                      HERALD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
                      REPORTS_DIR=str(tmp / "reports"), BASE_URL="http://127.0.0.1:9")
    env = dict(os.environ)
    portal.cli(env, "db", "upgrade")
    slug = portal.cli(env, "companies", "create", "Bench Portal", "--timezone", "Europe/London",
                      "--admin-email", portal.ADMIN, "--admin-password",
                      portal.PASSWORD).strip()
    token = portal.cli(env, "users", "token", "--company", slug, portal.ADMIN).strip()
    from webapp import create_app

    app = create_app()
    api = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    for n in range(100):
        answer = api.post("/api/v1/tasks", headers=auth, json={
            "name": f"Bench task {n:03d}", "report_type": "usage_by_rooms",
            "channels": ["whatsapp"], "schedule": {"kind": "daily", "time": "06:30"},
            "recipients": {"emails": [f"ops{n}@bench-portal.example"]}, "active": n < 60})
        assert answer.status_code == 201, answer.text
    company, user, tasks = portal_data.ids(url, slug, portal.ADMIN)
    portal_data.insert(url, "runs", portal_data.RUN_COLUMNS,
                       portal_data.runs(company, tasks, 0, args.runs))
    portal_data.insert(url, "audit_events", portal_data.AUDIT_COLUMNS,
                       portal_data.events(company, user, portal.ADMIN, 0, args.events))
    web = app.test_client()
    page = web.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = web.post("/login", data={"email": portal.ADMIN, "password": portal.PASSWORD,
                                      "csrf_token": csrf})
    assert answer.status_code in (302, 303), answer.status_code
    return app, web, api, auth, paths(url, company, tasks[0]), tmp


def measure(args, web, api, auth, found) -> None:
    print(f"load average {portal.loadavg()}; {args.runs:,} runs, {args.events:,} events")
    print(f"{'page':30} {'CPU ms min':>10} {'median':>7} {'bytes':>7}")
    for name, (path, is_api) in found.items():
        client, headers = (api, auth) if is_api else (web, {})
        for _ in range(args.warm):
            answer = client.get(path, headers=headers)
            assert answer.status_code == 200, (path, answer.status_code)
        batches = []  # the mean of each batch of 5: a shared machine's noise only adds
        for _ in range(max(1, args.repeat // 5)):
            cpu = time.process_time()
            for _ in range(5):
                size = len(client.get(path, headers=headers).data)
            batches.append((time.process_time() - cpu) * 1000 / 5)
        print(f"{name:30} {min(batches):10.2f} {statistics.median(batches):7.2f} {size:7}")
        if name in args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.repeat):
                client.get(path, headers=headers)
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(60)
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)


def paths(url: str, company: int, task: int) -> dict:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        run = conn.scalar(sa.text("SELECT id FROM runs WHERE task_id = :t ORDER BY id LIMIT 1 "
                                  "OFFSET (SELECT count(*) / 2 FROM runs WHERE task_id = :t)"),
                          {"t": task})
        event = conn.scalar(sa.text("SELECT max(id) / 2 FROM audit_events WHERE company_id = :c"),
                            {"c": company})
    engine.dispose()
    return {
        "task list": ("/tasks", False),
        "task page": (f"/tasks/{task}", False),
        "run history (older page)": (f"/tasks/{task}?cursor={run}", False),
        "audit log": ("/admin/audit", False),
        "audit log (older page)": (f"/admin/audit?cursor={event}", False),
        "audit log by action": ("/admin/audit?action=role.assign", False),
        "audit log by actor": ("/admin/audit?actor=SYSTEM", False),
        "audit log by family": ("/admin/audit?action=task", False),
        "My reports": ("/my/reports", False),
        "API task list": ("/api/v1/tasks", True),
        "API task": (f"/api/v1/tasks/{task}", True),
        "API run history (older page)": (f"/api/v1/tasks/{task}/runs?cursor={run}", True),
        "API audit": ("/api/v1/audit", True),
        "API audit (older page)": (f"/api/v1/audit?cursor={event}", True),
        "API audit by action": ("/api/v1/audit?action=role.assign", True),
        "API audit by actor": ("/api/v1/audit?actor=SYSTEM", True),
    }


if __name__ == "__main__":
    main()
