"""The dispatcher with an injected clock (no sleeping): months across both DST changes for
every kind, with downtime, restarts, a second dispatcher and a flushed Redis in the middle."""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from rq import Queue
from rq.job import Job

from jobs import dispatch as dispatcher
from jobs import held, tick
from jobs import schedule as sched
from jobs import series as sched_series
from jobs.queue import REPORTS_QUEUE
from webapp.extensions import db
from webapp.models import Run, Task
from webapp.services import tasks as task_service


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def new_task(company, schedule: dict, now: datetime, name: str = "T", active: bool = True):
    data = task_service.validate(company, {
        "name": name, "report_type": "usage_by_rooms", "channels": ["whatsapp"],
        "schedule": schedule, "recipients": {"emails": ["ops@acme.example"]},
        "active": active})
    task = task_service.save(company, data, now)
    db.session.commit()
    return task


def runs_of(task) -> list[Run]:
    return list(db.session.scalars(sa.select(Run).where(Run.task_id == task.id,
                                                        Run.scheduled_for.is_not(None))
                                   .order_by(Run.scheduled_for)))


SCHEDULES = [
    {"kind": "daily", "time": "01:30"},
    {"kind": "daily", "time": "02:15"},
    {"kind": "hourly", "every": 1, "time": "00:30"},
    {"kind": "hourly", "every": 4, "time": "06:30"},
    {"kind": "hourly", "every": 12, "time": "01:45"},
    {"kind": "weekly", "weekday": "sun", "time": "01:30"},
    {"kind": "weekly", "weekday": "mon", "time": "09:00"},
    {"kind": "monthly", "every": 1, "day": 5, "time": "02:30"},
]
ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe"]


@pytest.mark.parametrize("start, end", [
    (utc(2026, 3, 1), utc(2026, 4, 10)),   # NY 8 Mar and London 29 Mar forward, Lord Howe
    (utc(2026, 9, 28), utc(2026, 11, 5)),  # 5 Apr back; Lord Howe 4 Oct forward, London
                                           # 25 Oct and NY 1 Nov back
], ids=["spring", "autumn"])
def test_simulated_months_no_duplicate_no_missed_contiguous(app, make_company, redis_conn,
                                                            start, end):
    company = make_company("Acme Bank")
    tasks = [new_task(company, {**s, "timezone": zone}, start, f"{zone} {s['kind']} {i}")
             for zone in ZONES for i, s in enumerate(SCHEDULES)]
    task_ids = [t.id for t in tasks]
    downtime = (start + timedelta(days=13, hours=5), start + timedelta(days=22, hours=2))
    rng = random.Random(1)
    now, ticks, dispatched, tick_times = start, 0, 0, []
    while now < end:
        if not downtime[0] <= now < downtime[1]:
            dispatched += len(dispatcher.dispatch(now, redis_conn))
            tick_times.append(now)
            ticks += 1
            if ticks % 97 == 0:  # a restart: a new process, nothing in memory
                db.session.remove()
            if ticks % 131 == 0:  # a second dispatcher at the same moment finds nothing
                assert dispatcher.dispatch(now, redis_conn) == []
        # ticks every ~35 minutes, sometimes exactly at a task's instant
        due = db.session.scalar(sa.select(sa.func.min(Task.next_run_at)))
        step = now + timedelta(minutes=rng.randint(1, 70), seconds=rng.randint(0, 59))
        now = min(step, due) if due and due > now and rng.random() < 0.3 else step
    db.session.remove()

    catch_ups = 0
    for task_id in task_ids:
        task = db.session.get(Task, task_id)
        schedule, series = sched.of(task), task.series_start
        runs = runs_of(task)
        assert runs, task.name
        expected = list(sched_series.instants(schedule, series, runs[-1].scheduled_for, series))
        # Every instant lies in exactly one window: the first is nominal, each next starts
        # where the previous ended, and each ends at its own instant.
        assert runs[0].window_start == sched.previous_before(schedule, expected[0], series)
        for before, after in zip(runs, runs[1:], strict=False):
            assert after.window_start == before.window_end, task.name
        for run in runs:
            assert run.window_end == run.scheduled_for
            inside = expected[bisect_right(expected, run.window_start):
                              bisect_right(expected, run.window_end)]
            assert inside and inside[-1] == run.scheduled_for
            # one instant: a scheduled run; several: a catch-up of instants no tick saw
            if len(inside) > 1:
                assert run.trigger == "catch_up", (task.name, run.scheduled_for)
                assert bisect_left(tick_times, inside[0]) == bisect_left(tick_times,
                                                                         inside[-1])
                catch_ups += downtime[0] <= inside[0] < downtime[1]
            else:
                assert run.trigger == "scheduled", (task.name, run.scheduled_for)
        covered = sum(bisect_right(expected, r.window_end) - bisect_right(expected,
                                                                          r.window_start)
                      for r in runs)
        assert covered == len(expected), f"{task.name}: missed or doubled occurrences"
        # nothing due is left behind: the next run is after the last tick
        assert task.next_run_at > runs[-1].scheduled_for
        assert task.watermark == runs[-1].window_end
    assert catch_ups >= 3 * 5  # every daily and hourly task caught up after the downtime
    # every run was released (enqueued) once, but those prepared for an instant to come
    waiting = redis_conn.zcard(held.HELD)
    total = db.session.scalar(sa.select(sa.func.count(Run.id)))
    assert total == dispatched + waiting
    assert Queue(REPORTS_QUEUE, connection=redis_conn).count == dispatched


def test_dst_days_give_23_and_25_hour_windows(app, make_company, redis_conn):
    company = make_company("Acme Bank")
    task = new_task(company, {"kind": "daily", "time": "06:30", "timezone": "Europe/London"},
                    utc(2026, 3, 27, 12))
    for day in (28, 29, 30):
        dispatcher.dispatch(utc(2026, 3, day, 7), redis_conn)
    lengths = [r.window_end - r.window_start for r in runs_of(task)]
    assert lengths == [timedelta(hours=24), timedelta(hours=23), timedelta(hours=24)]


def test_a_run_exactly_at_its_instant_and_not_a_moment_before(app, make_company, redis_conn):
    company = make_company("Acme Bank")
    task = new_task(company, {"kind": "hourly", "every": 1, "time": "00:00", "timezone": "UTC"},
                    utc(2026, 1, 1, 0, 10))
    assert task.next_run_at == utc(2026, 1, 1, 1)
    assert dispatcher.dispatch(utc(2026, 1, 1, 0, 59, 59, 999999), redis_conn) == []
    [run_id] = dispatcher.dispatch(utc(2026, 1, 1, 1), redis_conn)
    run = db.session.get(Run, run_id)
    assert (run.window_start, run.window_end, run.trigger) == (
        utc(2026, 1, 1, 0), utc(2026, 1, 1, 1), "scheduled")
    assert Job.exists(held.job_id(run_id), connection=redis_conn)


def test_a_stale_dispatcher_cannot_create_an_occurrence_twice(app, make_company, redis_conn):
    company = make_company("Acme Bank")
    a = new_task(company, {"kind": "daily", "time": "06:00", "timezone": "UTC"},
                 utc(2026, 1, 1), "a")
    b = new_task(company, {"kind": "daily", "time": "06:00", "timezone": "UTC"},
                 utc(2026, 1, 1), "b")
    first = dispatcher.dispatch(utc(2026, 1, 1, 6, 0, 1), redis_conn)
    assert len(first) == 2
    # Another dispatcher read both tasks before the first committed: it sees them due; a's
    # run exists, b's does not (say it was lost): a is skipped, b's is made, in one batch.
    for task in (a, b):
        task.next_run_at, task.watermark = utc(2026, 1, 1, 6), None
    db.session.delete(runs_of(b)[0])
    db.session.commit()
    again = dispatcher.dispatch(utc(2026, 1, 1, 6, 0, 2), redis_conn)
    assert len(again) == 1 and db.session.get(Run, again[0]).task_id == b.id
    assert len(runs_of(a)) == 1
    assert a.next_run_at == utc(2026, 1, 2, 6)


def test_run_now_leaves_the_series_regular(app, make_company, redis_conn):
    company = make_company("Acme Bank")
    task = new_task(company, {"kind": "daily", "time": "06:00", "timezone": "UTC"},
                    utc(2026, 1, 1))
    dispatcher.dispatch(utc(2026, 1, 1, 6), redis_conn)
    for run in runs_of(task):  # built by a worker (Run now waits for a queued run)
        run.status = "succeeded"
    db.session.commit()
    manual = task_service.run_now(task, utc(2026, 1, 1, 15))
    db.session.commit()
    assert (manual.window_start, manual.window_end, manual.trigger) == (
        utc(2026, 1, 1, 6), utc(2026, 1, 1, 15), "manual")
    assert task.watermark == utc(2026, 1, 1, 6)
    dispatcher.dispatch(utc(2026, 1, 2, 6), redis_conn)
    scheduled = runs_of(task)
    assert [(r.window_start, r.window_end) for r in scheduled] == [
        (utc(2025, 12, 31, 6), utc(2026, 1, 1, 6)), (utc(2026, 1, 1, 6), utc(2026, 1, 2, 6))]


def test_reactivation_starts_a_new_series_with_a_nominal_window(app, make_company, redis_conn):
    company = make_company("Acme Bank")
    task = new_task(company, {"kind": "daily", "time": "06:00", "timezone": "UTC"},
                    utc(2026, 1, 1))
    dispatcher.dispatch(utc(2026, 1, 1, 6), redis_conn)
    payload = {"active": False}
    task_service.save(company, task_service.validate(company, payload, task), utc(2026, 1, 1, 7),
                      task)
    db.session.commit()
    assert (task.status, task.next_run_at) == ("inactive", None)
    assert dispatcher.dispatch(utc(2026, 1, 5, 7), redis_conn) == []  # nothing while off
    task_service.save(company, task_service.validate(company, {"active": True}, task),
                      utc(2026, 1, 10, 12), task)
    db.session.commit()
    assert task.next_run_at == utc(2026, 1, 11, 6)
    [run_id] = dispatcher.dispatch(utc(2026, 1, 11, 6), redis_conn)
    run = db.session.get(Run, run_id)
    assert (run.window_start, run.window_end, run.trigger) == (
        utc(2026, 1, 10, 6), utc(2026, 1, 11, 6), "scheduled")  # not a catch-up since Jan 1


def test_editing_the_schedule_recomputes_the_next_run(app, make_company, redis_conn):
    company = make_company("Acme Bank")
    task = new_task(company, {"kind": "daily", "time": "06:00", "timezone": "UTC"},
                    utc(2026, 1, 1))
    dispatcher.dispatch(utc(2026, 1, 1, 6), redis_conn)
    edit = {"schedule": {"kind": "hourly", "every": 6, "time": "01:00"}}
    task_service.save(company, task_service.validate(company, edit, task), utc(2026, 1, 1, 8),
                      task)
    db.session.commit()
    assert task.next_run_at == utc(2026, 1, 1, 13)
    [run_id] = dispatcher.dispatch(utc(2026, 1, 1, 13), redis_conn)
    run = db.session.get(Run, run_id)
    assert (run.window_start, run.window_end) == (utc(2026, 1, 1, 6), utc(2026, 1, 1, 13))


def test_flushed_redis_loses_no_queued_run(app, make_company, redis_conn):
    company = make_company("Acme Bank")
    task = new_task(company, {"kind": "hourly", "every": 1, "time": "00:00", "timezone": "UTC"},
                    utc(2026, 1, 1))
    created = dispatcher.dispatch(utc(2026, 1, 1, 1), redis_conn)
    redis_conn.flushdb()
    now = datetime.now(UTC)
    assert held.requeue_lost(now, redis_conn, grace=timedelta(0)) == created
    assert Job.exists(held.job_id(created[0]), connection=redis_conn)
    assert held.requeue_lost(now, redis_conn, grace=timedelta(0)) == []  # once
    # a job that ended without starting its run (worker died first) is enqueued again
    job = Job.fetch(held.job_id(created[0]), connection=redis_conn)
    job.set_status("failed")
    assert held.requeue_lost(now, redis_conn, grace=timedelta(0)) == created
    assert Queue(REPORTS_QUEUE, connection=redis_conn).job_ids.count(
        held.job_id(created[0])) == 1
    assert task.next_run_at == utc(2026, 1, 1, 2)


def test_the_tick_dispatches_each_task_at_its_instant_within_its_interval(
        app, make_company, redis_conn, monkeypatch):
    company = make_company("Acme Bank")
    for minute in (0, 1):
        new_task(company, {"kind": "hourly", "every": 1, "time": f"00:{minute:02d}",
                           "timezone": "UTC"}, utc(2026, 1, 1, 0, 30), f"t{minute}")
    app.config["DISPATCH_INTERVAL"] = 89  # + the scheduler's 1 s poll
    clock = {"now": utc(2026, 1, 1, 0, 59, 30)}
    enqueued_at: dict[int, datetime] = {}
    real_release = dispatcher.release_held

    def sleep(seconds):
        clock["now"] += timedelta(seconds=seconds)

    def release(now, conn):
        released = real_release(now, conn)
        enqueued_at.update({i: clock["now"] for i in released})
        return released

    monkeypatch.setattr(dispatcher, "release_held", release)
    tick.run_tick(now=lambda: clock["now"], sleep=sleep)
    runs = db.session.scalars(sa.select(Run).order_by(Run.scheduled_for)).all()
    assert [r.scheduled_for for r in runs] == [utc(2026, 1, 1, 1), utc(2026, 1, 1, 1, 1)]
    assert [enqueued_at[r.id] for r in runs] == [r.scheduled_for for r in runs]  # zero lag
    assert clock["now"] == utc(2026, 1, 1, 1, 1)  # the next (02:00) is beyond the interval
