"""A running run's heartbeat (jobs/heartbeat.py): one thread per process beats for each run
in progress, and for none once its block has ended."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from jobs import heartbeat
from webapp.extensions import db
from webapp.models import Run

from .test_delivery_email import make_task, new_run
from .test_lifecycle import wait_for

EVERY = 0.05


def running_run(company) -> tuple[int, object]:
    run = new_run(make_task(company, ["a@acme.example"]))
    run.status, run.heartbeat_at = "running", datetime(2026, 1, 1, tzinfo=UTC)
    db.session.commit()
    return run.id, last_beat(run.id)


def last_beat(run_id: int):
    db.session.rollback()  # a read of its own: see what the heartbeat's connection wrote
    return db.session.scalar(sa.select(Run.heartbeat_at).where(Run.id == run_id))


def heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "heartbeat"]


def test_one_thread_beats_for_the_run_in_progress_and_for_none_after_it(app, make_company):
    first, first_claimed = running_run(make_company("Acme Bank"))
    second, second_claimed = running_run(make_company("Beta Bank"))
    with heartbeat.beating(first, EVERY, db.engine):
        wait_for(lambda: last_beat(first) != first_claimed, 10, "the first run's beat")
        [thread] = heartbeat_threads()
    ended = last_beat(first)
    time.sleep(6 * EVERY)
    assert last_beat(first) == ended  # no beat once its block has ended
    with heartbeat.beating(second, EVERY, db.engine):
        wait_for(lambda: last_beat(second) != second_claimed, 10, "the second run's beat")
    assert heartbeat_threads() == [thread]  # the same thread, kept between runs
    assert last_beat(first) == ended


def test_two_runs_in_progress_each_get_their_beats(app, make_company):
    first, first_claimed = running_run(make_company("Acme Bank"))
    second, second_claimed = running_run(make_company("Beta Bank"))
    with heartbeat.beating(first, EVERY, db.engine), \
            heartbeat.beating(second, EVERY, db.engine):
        wait_for(lambda: last_beat(first) != first_claimed, 10, "the first run's beat")
        wait_for(lambda: last_beat(second) != second_claimed, 10, "the second run's beat")
    ended = last_beat(first), last_beat(second)
    time.sleep(6 * EVERY)
    assert (last_beat(first), last_beat(second)) == ended


def test_a_finished_run_is_not_beaten(app, make_company):
    run_id, _ = running_run(make_company("Acme Bank"))
    run = db.session.get(Run, run_id)
    run.status = "succeeded"
    db.session.commit()
    finished = last_beat(run_id)
    with heartbeat.beating(run_id, EVERY, db.engine):
        time.sleep(6 * EVERY)
    assert last_beat(run_id) == finished


def test_a_run_due_before_the_thread_wakes_wakes_it(app, make_company):
    slow, _ = running_run(make_company("Acme Bank"))
    fast, fast_claimed = running_run(make_company("Beta Bank"))
    with heartbeat.beating(slow, 600, db.engine):
        time.sleep(2 * EVERY)  # the thread sleeps until the slow run's first beat
        with heartbeat.beating(fast, EVERY, db.engine):
            wait_for(lambda: last_beat(fast) != fast_claimed, 10, "the fast run's beat")
