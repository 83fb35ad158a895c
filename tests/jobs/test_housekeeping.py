"""Retention (jobs/housekeeping.py): report files past REPORT_RETENTION_DAYS are deleted from
the store (a directory or S3) and their runs say "expired"; idempotent and bounded; the tick
does it at most every few seconds, whichever dispatcher comes first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobs import housekeeping
from jobs.reports import storage
from webapp.extensions import db
from webapp.models import Run

from ..roles.helpers import finished_run, make_task


def _aged(run: Run, days: float) -> Run:
    run.finished_at = datetime.now(UTC) - timedelta(days=days)
    db.session.commit()
    return run


def test_old_reports_expire_and_their_history_stays(app, any_store, make_company, auth, client):
    company = make_company()
    task = make_task(company, ["ops@acme.example"])
    old = [_aged(finished_run(task), 91), _aged(finished_run(task), 120)]
    recent = _aged(finished_run(task), 89)
    now = datetime.now(UTC)

    # Bounded: one run a step here; the next step takes the next one; then nothing is left.
    first = housekeeping.expire_reports(now, 90, limit=1)
    assert first == [old[1].id]  # the oldest first
    assert housekeeping.expire_reports(now, 90, limit=1) == [old[0].id]
    assert housekeeping.expire_reports(now, 90) == []
    db.session.expire_all()
    for run in old:
        run = db.session.get(Run, run.id)
        assert (run.status, run.expired_at) == ("expired", now)
        assert run.file_name and run.row_count == 1  # what it was is kept
        assert not storage.exists(run)
    assert db.session.get(Run, recent.id).status == "succeeded"
    assert storage.exists(recent)
    if any_store is not None:
        assert any_store.keys() == [f"reports/herald/{storage.key(recent)}"]

    auth.login(f"admin@{company.slug}.example")
    page = client.get(f"/runs/{old[0].id}").get_data(as_text=True)
    assert "The report file was deleted on" in page and "(90 days)" in page
    assert "hx-trigger" not in page  # an expired run does not poll itself
    response = client.get(f"/runs/{old[0].id}/download")
    assert response.status_code == 404
    assert "retention period (90 days)" in response.get_data(as_text=True)
    api = client.get(f"/api/v1/runs/{old[0].id}").get_json()
    assert api["status"] == "expired"


def test_zero_days_keeps_reports_forever(app, make_company):
    task = make_task(make_company(), ["ops@acme.example"])
    run = _aged(finished_run(task), 4000)
    assert housekeeping.expire_reports(datetime.now(UTC), 0) == []
    assert storage.exists(run)


def test_a_run_still_working_never_expires(app, make_company):
    task = make_task(make_company(), ["ops@acme.example"])
    run = _aged(finished_run(task), 200)
    run.status = "running"
    db.session.commit()
    assert housekeeping.expire_reports(datetime.now(UTC), 90) == []


def test_housekeeping_runs_once_every_few_seconds_across_dispatchers(app, redis_conn,
                                                                     make_company):
    task = make_task(make_company(), ["ops@acme.example"])
    run = _aged(finished_run(task), 100)
    housekeeping.housekeep(datetime.now(UTC), redis_conn)
    db.session.expire_all()
    assert db.session.get(Run, run.id).status == "expired"
    assert not housekeeping.due(redis_conn)  # a second dispatcher, or the next tick, skips
    assert 0 < redis_conn.ttl(housekeeping.LOCK) <= housekeeping.EVERY
