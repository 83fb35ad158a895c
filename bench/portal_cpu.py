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
        answer = api.post("/api/v1/tasks", headers=auth, json=portal.task_payload(n))
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
    """Each page of portal.py: (path, whether it is the API's)."""
    return {name: (path, target is not None)
            for name, (path, target) in portal.page_paths(url, company, task).items()}


if __name__ == "__main__":
    main()
