"""Runs prepared ahead of their instant (jobs/dispatch.py): held until the instant, released
in one step, cancelled by an edit that changes when or whether the task runs, repaired after
a flushed Redis; and the task's watermark is right whatever moment an edit comes."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from rq import Queue
from rq.job import Job

from jobs import dispatch as dispatcher
from jobs import held
from jobs.queue import REPORTS_QUEUE
from webapp.extensions import db
from webapp.models import OutboxMessage, Run, Task
from webapp.services import tasks as task_service

T = datetime(2030, 1, 1, 6, tzinfo=UTC)  # the daily task's instant (after the runs' created_at)
AHEAD = timedelta(seconds=60)


def daily_task(company, now: datetime = T - timedelta(hours=12)) -> Task:
    data = task_service.validate(company, {
        "name": "Rooms", "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:00", "timezone": "UTC"},
        "recipients": {"emails": ["ops@acme.example"]}})
    task = task_service.save(company, data, now)
    db.session.commit()
    return task


def edit(company, task: Task, payload: dict, now: datetime) -> Task:
    task = task_service.save(company, task_service.validate(company, payload, task), now, task)
    db.session.commit()
    return task


def runs_of(task: Task) -> list[Run]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Run).where(Run.task_id == task.id)
                                   .order_by(Run.id)))


def queued_jobs(conn) -> list[str]:
    return Queue(REPORTS_QUEUE, connection=conn).job_ids


def test_a_run_is_prepared_ahead_held_and_released_at_its_instant(app, make_company,
                                                                   redis_conn):
    task = daily_task(make_company("Acme"))
    assert dispatcher.dispatch(T - AHEAD - timedelta(seconds=1), redis_conn) == []
    assert runs_of(task) == []  # too early to prepare

    assert dispatcher.dispatch(T - timedelta(seconds=30), redis_conn) == []
    [run] = runs_of(task)
    assert (run.status, run.scheduled_for, run.window_start, run.window_end) == (
        "queued", T, T - timedelta(days=1), T)
    job = Job.fetch(held.job_id(run.id), connection=redis_conn)
    assert job.get_status() == "scheduled" and queued_jobs(redis_conn) == []
    # The task still says when it runs next; only the following instant is noted.
    db.session.refresh(task)
    assert (task.next_run_at, task.watermark, task.prepared_following_at) == (
        T, None, T + timedelta(days=1))
    # Later ticks before the instant prepare nothing more and release nothing.
    assert dispatcher.dispatch(T - timedelta(microseconds=1), redis_conn) == []
    assert len(runs_of(task)) == 1

    assert dispatcher.dispatch(T, redis_conn) == [run.id]
    assert queued_jobs(redis_conn) == [held.job_id(run.id)]
    job = Job.fetch(held.job_id(run.id), connection=redis_conn)
    assert job.get_status() == "queued" and job.origin == REPORTS_QUEUE
    assert job.enqueued_at is not None and job.args == (run.id,)
    db.session.refresh(task)
    assert (task.next_run_at, task.watermark, task.prepared_following_at) == (
        T + timedelta(days=1), T, None)
    assert dispatcher.dispatch(T + timedelta(seconds=1), redis_conn) == []  # never twice
    assert redis_conn.zcard(held.HELD) == 0


def test_a_released_job_is_run_by_a_worker(app, make_company, redis_conn, work):
    task = daily_task(make_company("Acme"))
    dispatcher.dispatch(T - timedelta(seconds=10), redis_conn)
    [run_id] = dispatcher.dispatch(T, redis_conn)
    assert work()
    assert db.session.get(Run, run_id, populate_existing=True).status == "succeeded"
    assert [m.to_addr for m in db.session.scalars(sa.select(OutboxMessage))] == [
        "ops@acme.example"]
    assert runs_of(task)[0].id == run_id


def test_release_is_atomic_each_job_is_queued_once(app, make_company, redis_conn):
    company = make_company("Acme")
    tasks = [daily_task(company) for _ in range(3)]
    dispatcher.dispatch(T - timedelta(seconds=10), redis_conn)
    first = held.release_held(T, redis_conn)
    assert len(first) == 3 and held.release_held(T, redis_conn) == []
    assert sorted(queued_jobs(redis_conn)) == sorted(held.job_id(i) for i in first)
    assert {r.task_id for r in db.session.scalars(sa.select(Run))} == {t.id for t in tasks}


def test_changing_the_schedule_cancels_the_prepared_run(app, make_company, redis_conn, work):
    company = make_company("Acme")
    task = daily_task(company)
    dispatcher.dispatch(T - timedelta(seconds=30), redis_conn)
    [prepared] = [r.id for r in runs_of(task)]
    edit(company, task, {"schedule": {"kind": "daily", "time": "07:00", "timezone": "UTC"}},
         T - timedelta(seconds=20))
    assert runs_of(task) == []
    assert (task.next_run_at, task.prepared_following_at, task.watermark) == (
        T + timedelta(hours=1), None, None)
    # The held job is still released at its instant; it finds no run and does nothing.
    assert dispatcher.dispatch(T, redis_conn) == [prepared]
    work()
    assert runs_of(task) == [] and db.session.scalar(sa.select(OutboxMessage.id)) is None
    # The new schedule runs at 07:00 with a window that leaves no gap.
    dispatcher.dispatch(T + timedelta(hours=1) - timedelta(seconds=5), redis_conn)
    [run_id] = dispatcher.dispatch(T + timedelta(hours=1), redis_conn)
    run = db.session.get(Run, run_id)
    assert (run.window_start, run.window_end) == (T + timedelta(hours=1) - timedelta(days=1),
                                                  T + timedelta(hours=1))


def test_deactivating_cancels_the_prepared_run(app, make_company, redis_conn):
    company = make_company("Acme")
    task = daily_task(company)
    dispatcher.dispatch(T - timedelta(seconds=30), redis_conn)
    edit(company, task, {"active": False}, T - timedelta(seconds=5))
    assert runs_of(task) == []
    assert (task.status, task.next_run_at, task.prepared_following_at) == ("inactive", None, None)
    dispatcher.dispatch(T + timedelta(days=3), redis_conn)
    assert runs_of(task) == []


def test_an_edit_that_keeps_the_schedule_keeps_the_prepared_run(app, make_company, redis_conn):
    company = make_company("Acme")
    task = daily_task(company)
    dispatcher.dispatch(T - timedelta(seconds=30), redis_conn)
    [prepared] = runs_of(task)
    edit(company, task, {"name": "Rooms, renamed",
                         "recipients": {"emails": ["new@acme.example"]}},
         T - timedelta(seconds=5))
    assert [r.id for r in runs_of(task)] == [prepared.id]
    assert dispatcher.dispatch(T, redis_conn) == [prepared.id]


def test_an_edit_between_release_and_settle_moves_the_watermark_first(app, make_company,
                                                                      redis_conn):
    """The dispatcher released the 06:00 run but had not advanced the task yet (it died, or
    is a moment behind): an edit of the schedule must not open a second window over it."""
    company = make_company("Acme")
    task = daily_task(company)
    dispatcher.dispatch(T - timedelta(seconds=30), redis_conn)
    [released] = held.release_held(T, redis_conn)
    db.session.refresh(task)
    assert (task.next_run_at, task.watermark) == (T, None)  # not settled
    edit(company, task, {"schedule": {"kind": "hourly", "every": 6, "time": "01:00",
                                      "timezone": "UTC"}}, T + timedelta(seconds=1))
    assert [r.id for r in runs_of(task)] == [released]  # released: not cancelled
    assert (task.watermark, task.next_run_at, task.prepared_following_at) == (
        T, T + timedelta(hours=1), None)
    [run_id] = dispatcher.dispatch(T + timedelta(hours=1), redis_conn)
    run = db.session.get(Run, run_id)
    assert (run.window_start, run.window_end) == (T, T + timedelta(hours=1))


def test_run_now_between_release_and_settle_starts_where_the_released_run_ends(
        app, make_company, redis_conn):
    company = make_company("Acme")
    task = daily_task(company)
    dispatcher.dispatch(T - timedelta(seconds=30), redis_conn)
    held.release_held(T, redis_conn)
    for run in runs_of(task):  # built by a worker (Run now waits for a queued run)
        run.status = "succeeded"
    db.session.commit()
    manual = task_service.run_now(task, T + timedelta(hours=2))
    db.session.commit()
    assert (manual.window_start, manual.window_end) == (T, T + timedelta(hours=2))
    manual.status = "succeeded"
    db.session.commit()
    # and before the instant, run now starts at the watermark as always
    dispatcher.dispatch(T + timedelta(days=1) - timedelta(seconds=30), redis_conn)
    manual = task_service.run_now(task, T + timedelta(days=1) - timedelta(seconds=20))
    db.session.commit()
    assert manual.window_start == T


def test_a_flushed_redis_gets_prepared_jobs_back_still_held(app, make_company, redis_conn):
    task = daily_task(make_company("Acme"))
    dispatcher.dispatch(T - timedelta(seconds=50), redis_conn)
    [run] = runs_of(task)
    redis_conn.flushdb()
    now = T - timedelta(seconds=40)
    assert held.requeue_lost(now, redis_conn, grace=timedelta(0)) == [run.id]
    assert queued_jobs(redis_conn) == []  # not before its instant
    assert Job.fetch(held.job_id(run.id), connection=redis_conn).get_status() == \
        "scheduled"
    assert held.requeue_lost(now, redis_conn, grace=timedelta(0)) == []  # once
    # Only the held set lost (a partial restore): held again, not duplicated.
    redis_conn.delete(held.HELD)
    assert held.requeue_lost(now, redis_conn, grace=timedelta(0)) == [run.id]
    assert dispatcher.dispatch(T, redis_conn) == [run.id]
    assert queued_jobs(redis_conn) == [held.job_id(run.id)]


def test_a_prepared_run_whose_instant_passed_unreleased_is_enqueued(app, make_company,
                                                                   redis_conn):
    """The dispatcher died between preparing and the instant, and Redis lost the job."""
    task = daily_task(make_company("Acme"))
    dispatcher.dispatch(T - timedelta(seconds=50), redis_conn)
    [run] = runs_of(task)
    redis_conn.flushdb()
    assert held.requeue_lost(T + timedelta(seconds=3), redis_conn,
                                   grace=timedelta(0)) == [run.id]
    assert queued_jobs(redis_conn) == [held.job_id(run.id)]


def test_many_tasks_at_one_instant_are_released_together(app, make_company, redis_conn):
    company = make_company("Acme")
    tasks = [daily_task(company) for _ in range(12)]
    dispatcher.BATCH, batch = 5, dispatcher.BATCH  # several preparation batches
    try:
        assert dispatcher.dispatch(T - timedelta(seconds=59), redis_conn) == []
    finally:
        dispatcher.BATCH = batch
    assert redis_conn.zcard(held.HELD) == 12
    released = dispatcher.dispatch(T, redis_conn)
    assert len(released) == 12 and len(queued_jobs(redis_conn)) == 12
    db.session.expire_all()
    assert {(t.watermark, t.next_run_at) for t in db.session.scalars(sa.select(Task))} == {
        (T, T + timedelta(days=1))}
    assert len(tasks) == 12


def test_deleting_a_task_cancels_its_prepared_run(app, make_company, redis_conn, work):
    task = daily_task(make_company("Acme"))
    dispatcher.dispatch(T - timedelta(seconds=30), redis_conn)
    task_id = task.id
    task_service.delete(task)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Run.id))) == 0
    assert len(dispatcher.dispatch(T, redis_conn)) == 1  # its job finds nothing to do
    work()
    assert db.session.get(Task, task_id) is None
    assert db.session.scalar(sa.select(OutboxMessage.id)) is None


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="row locks need PostgreSQL (SQLite serialises writers itself)")
def test_an_edit_cancelling_a_run_and_a_worker_claiming_it_do_not_deadlock(
        app, make_company, redis_conn):
    """The edit locks the task and then deletes the run; the claim takes the same rows in
    the same order, so it waits for the edit instead of deadlocking with it."""
    from jobs.runner import claim

    company = make_company("Acme")
    task = daily_task(company)
    dispatcher.dispatch(T - timedelta(seconds=30), redis_conn)
    [run_id] = [r.id for r in runs_of(task)]
    locked, outcome = threading.Event(), {}

    def edit_in_progress():
        with app.app_context():
            try:
                editing = db.session.get(Task, task.id, with_for_update=True)
                locked.set()
                time.sleep(1.5)  # the worker's claim starts meanwhile
                dispatcher.cancel_prepared(editing)
                db.session.commit()
                outcome["edit"] = "committed"
            except Exception as exc:  # a deadlock would land here or in the claim
                outcome["edit"] = repr(exc)
            finally:
                db.session.remove()

    def worker_claims():
        with app.app_context():
            try:
                locked.wait(10)
                run = db.session.get(Run, run_id)
                outcome["claim"] = claim(run, datetime.now(UTC))
            except Exception as exc:
                outcome["claim"] = repr(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=edit_in_progress), threading.Thread(target=worker_claims)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcome == {"edit": "committed", "claim": False}
    assert runs_of(task) == []
