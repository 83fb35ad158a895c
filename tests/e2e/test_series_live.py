"""Scheduling beyond the peers through the real server (docs/product.md §3, §4): monthly day
"last", end dates, catch-up per task after the dispatcher was down across DST changes, skip
when empty, .csv.gz downloads, fair turns between companies. The dispatcher's downtime is
made as an outage leaves it: the task's next instant and watermark in the past."""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime, timedelta

import requests
import sqlalchemy as sa

from .conftest import Tenant, make_tenant
from .test_security import portal_login

TIMEOUT = 60


def call(live, tenant: Tenant, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{live.url}/api/v1{path}", headers=tenant.headers,
                            timeout=TIMEOUT, **kwargs)


def create(live, tenant: Tenant, **fields) -> dict:
    payload = {"name": "Rooms", "report_type": "usage_by_rooms", "channels": ["sms"],
               "schedule": {"kind": "daily", "time": "01:30"},
               "recipients": {"emails": [f"ops@{tenant.slug}.example"]}, **fields}
    response = call(live, tenant, "POST", "/tasks", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def runs_of(live, tenant: Tenant, task_id: int, count: int, deadline: float = 180) -> list:
    """The task's runs once ``count`` exist and all have finished, oldest window first."""
    end = time.monotonic() + deadline
    while True:
        runs = call(live, tenant, "GET", f"/tasks/{task_id}/runs").json()
        runs = runs.get("runs", runs) if isinstance(runs, dict) else runs
        if len(runs) >= count and all(r["status"] not in ("queued", "running") for r in runs):
            return sorted(runs, key=lambda r: r["window_end"])
        assert time.monotonic() < end, (len(runs), live.log()[-3000:])
        time.sleep(0.5)


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


TASKS = sa.table("tasks", sa.column("id", sa.Integer), sa.column("ends_on", sa.Date),
                 *(sa.column(name, sa.DateTime) for name in (
                     "series_start", "watermark", "next_run_at", "prepared_following_at",
                     "ends_at")))
RUNS = sa.table("runs", sa.column("company_id", sa.Integer),
                sa.column("started_at", sa.DateTime))


def set_task(live, task_ids: int | list[int], **values) -> None:
    """Write the tasks' rows as a dispatcher outage leaves them (typed columns: each
    database's own date format; UTC columns hold naive UTC). A value may be a function of
    the task id."""
    engine = sa.create_engine(live.database_url)
    ids = task_ids if isinstance(task_ids, list) else [task_ids]
    with engine.begin() as conn:  # one transaction: one dispatcher batch
        for task_id in ids:
            row = {k: v(task_id) if callable(v) else v for k, v in values.items()}
            row = {k: naive(v) if isinstance(v, datetime) else v for k, v in row.items()}
            conn.execute(sa.update(TASKS).where(TASKS.c.id == task_id).values(**row))
    engine.dispose()


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_last_day_end_date_and_options_over_http(live):
    tenant = make_tenant(live, "Month End Co")
    task = create(live, tenant, schedule={"kind": "monthly", "every": 1, "day": "last",
                                          "time": "06:30"},
                  ends_on="2031-12-31", catch_up="each",
                  options={"skip_empty": True, "gzip": True, "spread_minutes": 5})
    assert task["schedule"]["day"] == "last" and task["ends_on"] == "2031-12-31"
    assert task["catch_up"] == "each"
    assert {k: task["options"][k] for k in ("skip_empty", "gzip", "spread_minutes")} == {
        "skip_empty": True, "gzip": True, "spread_minutes": 5}
    next_run = datetime.fromisoformat(task["next_run_at"])
    assert (next_run + timedelta(days=1)).day == 1  # the month's last day
    preview = call(live, tenant, "GET", "/schedules/preview", params={
        "kind": "monthly", "day": "last", "time": "06:30", "after": "2028-01-15T00:00:00Z",
        "ends_on": "2028-04-29"}).json()["runs"]
    assert [r["run_at"][:10] for r in preview] == ["2028-01-31", "2028-02-29", "2028-03-31"]
    assert preview[1]["window_start"] == preview[0]["window_end"]
    bad = call(live, tenant, "PATCH", f"/tasks/{task['id']}", json={
        "ends_on": "2020-01-01", "catch_up": "sometimes"})
    assert bad.status_code == 422
    assert set(bad.json()["error"]["fields"]) >= {"catch_up"}
    bad = call(live, tenant, "PATCH", f"/tasks/{task['id']}", json={"ends_on": "2020-01-01"})
    assert bad.status_code == 422 and "end date" in bad.json()["error"]["fields"]["ends_on"]
    # the task list says when it ends
    browser = portal_login(live, tenant.admin_email).browser
    page = browser.get(f"{live.url}/tasks", timeout=TIMEOUT).text
    assert "ends 31 Dec 2031" in page
    # and the task's page, in words: its end date and its catch-up after downtime
    page = browser.get(f"{live.url}/tasks/{task['id']}", timeout=TIMEOUT).text
    assert "31 December 2031 (Europe/London): no run after that day" in page
    assert "One run per missed time (at most 24)" in page


def test_skip_when_empty_sends_nothing_and_the_gzip_file_downloads(live, smtp_server):
    _, mailbox = smtp_server
    tenant = make_tenant(live, "Quiet Co")
    task = create(live, tenant, options={"skip_empty": True, "gzip": True})
    run = call(live, tenant, "POST", f"/tasks/{task['id']}/runs").json()
    [run] = runs_of(live, tenant, task["id"], 1)
    assert run["status"] == "empty"
    detail = call(live, tenant, "GET", f"/runs/{run['id']}").json()
    assert detail["deliveries"] == [] and detail["file_name"].endswith(".csv.gz")
    download = call(live, tenant, "GET", f"/runs/{run['id']}/csv")
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("application/gzip")
    assert gzip.decompress(download.content).startswith(b"company,channel,room_id")
    assert not [m for rcpts, m in mailbox.messages if f"ops@{tenant.slug}.example" in rcpts]
    # the portal's run page offers the download too
    browser = portal_login(live, tenant.admin_email).browser
    assert "Download" in browser.get(f"{live.url}/runs/{run['id']}", timeout=TIMEOUT).text


def _outage(live, task: dict) -> None:
    """The dispatcher was down from the first 01:30 (London) after 26 Mar 2026: the task's
    last window ended 27 Mar 01:30 GMT; spring forward (29 Mar) and fall back (25 Oct) lie
    in the outage."""
    set_task(live, task["id"], series_start=utc(2026, 3, 20), watermark=utc(2026, 3, 27, 1, 30),
             next_run_at=utc(2026, 3, 28, 1, 30), prepared_following_at=None)


def test_catch_up_each_after_an_outage_across_dst_is_capped_and_contiguous(live):
    tenant = make_tenant(live, "Each Co")
    task = create(live, tenant, catch_up="each")
    _outage(live, task)
    runs = runs_of(live, tenant, task["id"], 24)
    assert len(runs) == 24  # CATCH_UP_MAX: the oldest instants combined into the first
    assert all(r["trigger"] == "catch_up" for r in runs)
    starts = [datetime.fromisoformat(r["window_start"]) for r in runs]
    ends = [datetime.fromisoformat(r["window_end"]) for r in runs]
    assert starts[0] == utc(2026, 3, 27, 1, 30)
    assert starts[1:] == ends[:-1]  # no gap, no overlap
    assert ends[0] - starts[0] > timedelta(days=200)  # spans both DST changes
    assert all(e - s == timedelta(days=1) for s, e in zip(starts[1:], ends[1:], strict=True))


def test_catch_up_combine_after_an_outage_across_dst_is_one_run(live):
    tenant = make_tenant(live, "Combine Co")
    task = create(live, tenant)
    assert task["catch_up"] == "combine"
    _outage(live, task)
    [run] = runs_of(live, tenant, task["id"], 1)
    assert run["trigger"] == "catch_up"
    assert datetime.fromisoformat(run["window_start"]) == utc(2026, 3, 27, 1, 30)
    assert datetime.now(UTC) - datetime.fromisoformat(run["window_end"]) < timedelta(days=1)


def test_a_task_past_its_end_date_makes_its_last_run_and_deactivates(live):
    tenant = make_tenant(live, "Ending Co")
    task = create(live, tenant, catch_up="each")
    yesterday = datetime.now(UTC).date() - timedelta(days=2)
    last = datetime(yesterday.year, yesterday.month, yesterday.day, 1, 30, tzinfo=UTC)
    set_task(live, task["id"], series_start=last - timedelta(days=5),
             watermark=last - timedelta(days=2), next_run_at=last - timedelta(days=1),
             prepared_following_at=None, ends_on=yesterday,
             ends_at=last + timedelta(hours=22, minutes=30))  # London's midnight in winter
    runs = runs_of(live, tenant, task["id"], 2)
    assert [datetime.fromisoformat(r["window_end"]) for r in runs] == [
        last - timedelta(days=1), last]  # each, up to the last instant before the end
    deadline = time.monotonic() + 30
    while (got := call(live, tenant, "GET", f"/tasks/{task['id']}").json())["active"]:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert got["status"] == "inactive" and got["next_run_at"] is None


def test_a_small_company_is_not_held_behind_a_big_one(live):
    """40 reports of one company released at one instant, another company's one a quarter
    of a second later (released at their instants, jobs/tick.py; a run takes tens of ms, so
    most of the 40 are still queued then): with fair turns it starts before most of them
    (FIFO: after all)."""
    big, small = make_tenant(live, "Big Fair Co"), make_tenant(live, "Small Fair Co")
    bigs = [create(live, big, name=f"B{n}") for n in range(40)]
    mine = create(live, small)
    at = datetime.now(UTC) + timedelta(seconds=3)
    later = at + timedelta(milliseconds=250)
    set_task(live, [t["id"] for t in [*bigs, mine]],
             next_run_at=lambda task_id: later if task_id == mine["id"] else at,
             watermark=at - timedelta(hours=1), prepared_following_at=None)
    runs = runs_of(live, small, mine["id"], 1)
    started = datetime.fromisoformat(runs[0]["started_at"])
    company = call(live, big, "GET", f"/tasks/{bigs[0]['id']}/runs")
    assert company.status_code == 200
    engine = sa.create_engine(live.database_url)
    with engine.connect() as conn:
        big_company = conn.execute(sa.text("SELECT company_id FROM tasks WHERE id = :id"),
                                   {"id": bigs[0]["id"]}).scalar()
        times = conn.execute(sa.select(RUNS.c.started_at).where(
            RUNS.c.company_id == big_company)).scalars().all()
    engine.dispose()
    after = sum(t is None or t > naive(started) for t in times)
    assert after >= 5, (after, len(times), live.log()[-2000:])
