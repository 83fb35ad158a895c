"""Issue 15 through the real server: what Herald writes (database, reports, the embedded
Redis's folder) is readable by its own user only."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from .conftest import make_tenant
from .test_security import Api


def _modes(root: Path) -> dict[str, int]:
    found = {str(root): stat.S_IMODE(root.stat().st_mode)}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            found[str(path)] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_reports_and_the_database_are_owner_only(live):
    tenant = make_tenant(live, "Modes Co")
    admin = Api(live.url, tenant.token)
    task = admin.post("/api/v1/tasks", json={
        "name": "Rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": ["ops@modes-co.example"]}}).json()
    run = admin.post(f"/api/v1/tasks/{task['id']}/runs").json()
    deadline = time.monotonic() + 120
    while admin.get(f"/api/v1/runs/{run['id']}").json()["status"] not in (
            "succeeded", "failed", "partial"):
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.5)
    reports = Path(live.env["REPORTS_DIR"])
    modes = _modes(reports)
    assert any(path.endswith(".csv") for path in modes), modes
    loose = {path: oct(mode) for path, mode in modes.items()
             if mode & 0o077 and not Path(path).is_symlink()}
    assert loose == {}, loose
    if live.database_url.startswith("sqlite:///"):
        database = Path(live.database_url[len("sqlite:///"):])
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
    instance = Path(__file__).resolve().parents[2] / "instance"
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    redis_dir = instance / "redis"
    if redis_dir.exists():  # the embedded Redis of `serve` (REDIS_URL unset)
        assert stat.S_IMODE(redis_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE((redis_dir / "redis.conf").stat().st_mode) == 0o600
