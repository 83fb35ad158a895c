"""The API's lists over HTTP on the live server: tasks and run history walked page by page
with the cursor (no row twice, none missed), filters, and a bad argument's 422."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from webapp.models import Run

from .conftest import make_tenant

NOW = datetime(2026, 11, 30, 6, 30, tzinfo=UTC)


def add_runs(database_url: str, company_id: int, task_id: int, count: int) -> None:
    """History as years of schedule leave it, written straight into the table."""
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.insert(Run.__table__), [
            {"company_id": company_id, "task_id": task_id, "trigger": "scheduled",
             "scheduled_for": NOW - timedelta(days=n), "window_start": NOW - timedelta(days=n + 1),
             "window_end": NOW - timedelta(days=n), "created_at": NOW - timedelta(days=n),
             "status": "failed" if n % 10 == 0 else "succeeded", "attempt": 1}
            for n in reversed(range(count))])
    engine.dispose()


def walk(api, path: str, key: str, **params) -> list[dict]:
    seen, cursor = [], None
    while True:
        answer = api.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seen += body[key]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


@pytest.fixture
def paging(live):
    tenant = make_tenant(live, "Paging Bank")
    api = requests.Session()
    api.headers.update(tenant.headers)
    base = live.url + "/api/v1"

    class Api:
        def get(self, path, **kwargs):
            return api.get(base + path, timeout=120, **kwargs)

        def post(self, path, **kwargs):
            return api.post(base + path, timeout=120, **kwargs)

    yield Api()
    api.close()


def test_api_lists_walk_every_page_once(live, paging):
    made = []
    for n in range(7):
        answer = paging.post("/tasks", json={
            "name": f"Paged {n}", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
            "schedule": {"kind": "daily", "time": "06:30"}, "active": n != 3,
            "recipients": {"emails": [f"ops{n}@paging.example"]}})
        assert answer.status_code == 201, answer.text
        made.append(answer.json())
    tasks = walk(paging, "/tasks", "tasks", limit=3)
    assert [t["id"] for t in tasks] == [t["id"] for t in made]
    assert tasks[0]["recipients"]["emails"] == ["ops0@paging.example"]
    off = paging.get("/tasks", params={"active": "false", "q": "paged"}).json()
    assert [t["name"] for t in off["tasks"]] == ["Paged 3"] and off["next_cursor"] is None

    engine = sa.create_engine(live.database_url)
    with engine.connect() as conn:
        company = conn.scalar(sa.text("SELECT company_id FROM tasks WHERE id = :t"),
                              {"t": made[0]["id"]})
    engine.dispose()
    add_runs(live.database_url, company, made[0]["id"], 230)
    runs = walk(paging, f"/tasks/{made[0]['id']}/runs", "runs", limit=100)
    ids = [r["id"] for r in runs]
    assert len(ids) == 230 and ids == sorted(set(ids), reverse=True)
    failed = walk(paging, f"/tasks/{made[0]['id']}/runs", "runs", status="failed")
    assert len(failed) == 23 and {r["status"] for r in failed} == {"failed"}
    assert paging.get(f"/tasks/{made[0]['id']}/runs?limit=2").json()["runs"][0][
        "window_end"].startswith("2026-11-30T06:30:00+00:00")
    bad = paging.get("/tasks", params={"cursor": "next", "limit": "0"})
    assert bad.status_code == 422
    assert set(bad.json()["error"]["fields"]) == {"cursor", "limit"}
