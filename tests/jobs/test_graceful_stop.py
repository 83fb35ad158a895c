"""What a worker puts back when Herald stops in the middle of a job (jobs/worker.py), and the
job's side of the interrupt (jobs/shutdown.py). The whole flow through `serve` and SIGTERM
is in tests/test_one_process.py."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from rq import Queue
from rq.job import Job

from jobs import held, runner
from jobs.delivery import attempts
from jobs.queue import REPORTS_QUEUE
from jobs.requeue import requeue_run
from jobs.worker import HeraldWorker, queues
from webapp.extensions import db
from webapp.models import Delivery, Run, Task

from .test_delivery_email import deliveries, make_task, new_run


def test_an_interrupted_run_is_queued_again_and_what_was_sent_is_not_sent_again(
        smtp_app, make_company, mailbox, redis_conn, work):
    company = make_company("Acme Bank")
    task = make_task(company, ["ana@acme.example", "ben@acme.example", "cy@acme.example"])
    run = new_run(task)
    assert runner.claim(run, datetime.now(UTC))
    # Where a cut job leaves it: one sent, one cut during its attempt, one not tried.
    run.deliveries = [
        Delivery(company_id=company.id, kind="email", target="ana@acme.example",
                 status="sent", attempts=1, message_id="<first@herald.example>"),
        Delivery(company_id=company.id, kind="email", target="ben@acme.example",
                 status="sending", attempts=1, message_id="<cut@herald.example>"),
        Delivery(company_id=company.id, kind="email", target="cy@acme.example")]
    db.session.commit()
    now = datetime.now(UTC)

    assert requeue_run(run.id, now, 25.0, redis_conn) is True
    assert requeue_run(run.id, now, 25.0, redis_conn) is False  # once

    db.session.expire_all()
    run = db.session.get(Run, run.id)
    assert run.status == "queued" and run.started_at is None
    assert "Interrupted" in run.error and "SHUTDOWN_GRACE (25 s)" in run.error
    assert db.session.get(Task, task.id).status == "scheduled"  # editable while it waits
    state = deliveries(run.id)
    assert (state["ana@acme.example"].status, state["cy@acme.example"].status) == (
        "sent", "pending")
    cut = state["ben@acme.example"]
    assert cut.status == "failed" and cut.next_attempt_at is not None
    assert "outcome unknown" in cut.error
    assert held.job_id(run.id) in Queue(REPORTS_QUEUE, connection=redis_conn).job_ids

    # The next worker runs it: the pending one goes out; the cut one is retried with its
    # Message-ID; the sent one never again.
    work()
    attempts.enqueue_due(datetime.now(UTC), redis_conn)
    work()
    sent = {tuple(rcpts): message["Message-ID"] for rcpts, message in mailbox.messages}
    assert sent == {("cy@acme.example",): sent[("cy@acme.example",)],
                    ("ben@acme.example",): "<cut@herald.example>"}
    db.session.expire_all()
    assert db.session.get(Run, run.id).status == "succeeded"


def test_a_finished_run_is_left_alone(app, make_company, redis_conn):
    run = new_run(make_task(make_company("Acme Bank"), ["ana@acme.example"]))
    run.status = "succeeded"
    db.session.commit()
    assert requeue_run(run.id, datetime.now(UTC), 25.0, redis_conn) is False
    assert requeue_run(999_999, datetime.now(UTC), 25.0, redis_conn) is False
    assert Queue(REPORTS_QUEUE, connection=redis_conn).job_ids == []


def test_a_job_that_does_not_stop_after_its_interrupt_is_cut_and_its_run_put_back(
        app, make_company, redis_conn, monkeypatch):
    """What the worker does CUT_AFTER seconds after the interrupt if the job is still there
    (stuck in a call that does not return): from its timer's thread, the run is put back and
    the process exits."""
    run = new_run(make_task(make_company("Acme Bank"), ["ana@acme.example"]))
    assert runner.claim(run, datetime.now(UTC))
    job = Job.create(runner.run_report, args=(run.id,), id=held.job_id(run.id),
                     connection=redis_conn)
    job.save()
    worker = HeraldWorker(queues(redis_conn), connection=redis_conn, app=app, grace=1.0)
    exits = []
    monkeypatch.setattr(os, "_exit", exits.append)
    monkeypatch.setattr(logging, "shutdown", lambda: None)

    worker._cut(job)  # the job has ended meanwhile: nothing to do
    assert exits == []
    worker.job = job
    worker._cut(job)
    assert exits == [0]
    db.session.expire_all()
    assert db.session.get(Run, run.id).status == "queued"
    assert held.job_id(run.id) in Queue(REPORTS_QUEUE, connection=redis_conn).job_ids


def test_the_interrupt_waits_for_the_end_of_an_uninterruptible_step():
    """In a process of its own: INTERRUPT lands only in a job's own code (armed), and inside
    uninterruptible() only when the step is over."""
    script = textwrap.dedent("""
        import os
        from jobs import shutdown

        steps = []
        shutdown.install()
        os.kill(os.getpid(), shutdown.INTERRUPT)  # between jobs: ignored
        steps.append("idle")
        shutdown.arm()
        try:
            os.kill(os.getpid(), shutdown.INTERRUPT)
            steps.append("not interrupted")
        except shutdown.Interrupted:
            steps.append("interrupted at once")
        os.kill(os.getpid(), shutdown.INTERRUPT)  # the job is unwinding: once is enough
        steps.append("once")
        shutdown.disarm()

        shutdown.arm()  # the next job
        try:
            with shutdown.uninterruptible():
                os.kill(os.getpid(), shutdown.INTERRUPT)
                steps.append("sent")  # still here: the step goes on
            steps.append("after")  # never: raised as the step ended
        except shutdown.Interrupted:
            steps.append("interrupted")
        print(",".join(steps))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "idle,interrupted at once,once,sent,interrupted"


def test_a_worker_stops_listening_within_seconds(redis_conn):
    """The pubsub thread (stop and kill commands) woken by UNSUBSCRIBE's reply waits up to 60 s
    to be subscribed again, and redis-py's stop() joins it without a limit: the worker's
    exit waited for it. Here the thread is put in that wait first, as the race often did."""
    import time

    worker = HeraldWorker(queues(redis_conn), connection=redis_conn)
    worker.subscribe()
    deadline = time.monotonic() + 5
    while not worker.pubsub.subscribed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert worker.pubsub.subscribed
    worker.pubsub.unsubscribe()  # its reply wakes the thread, which then waits to resubscribe
    while worker.pubsub.subscribed and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    started = time.monotonic()
    worker.unsubscribe()
    assert time.monotonic() - started < 5
