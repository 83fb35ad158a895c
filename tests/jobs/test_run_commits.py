"""A run's writes (jobs/runner.py): three commits for a run with one recipient, and a run
whose last record fails to commit still ends, with nothing sent twice."""

from __future__ import annotations

import sqlalchemy as sa

from jobs.delivery import attempts
from jobs.runner import run_report
from webapp.extensions import db
from webapp.models import Run, Task

from .test_delivery_email import deliveries, make_task, new_run


def test_a_run_with_one_recipient_commits_three_times(smtp_app, make_company, mailbox):
    task = make_task(make_company(), ["a@acme.example"])
    run_id, task_id = new_run(task, trigger="scheduled").id, task.id
    commits = []

    def count(session):
        commits.append(1)

    session = db.session()
    sa.event.listen(session, "after_commit", count)
    try:
        assert run_report(run_id) == "succeeded"
    finally:
        sa.event.remove(session, "after_commit", count)
    assert len(commits) == 3  # the claim; the build with the claim of the delivery; its end
    db.session.expire_all()
    assert db.session.get(Run, run_id).status == "succeeded"
    assert db.session.get(Task, task_id).status == "scheduled"
    assert {t: (d.status, d.attempts) for t, d in deliveries(run_id).items()} == {
        "a@acme.example": ("sent", 1)}
    assert [rcpts for rcpts, _ in mailbox.messages] == [["a@acme.example"]]


def test_a_run_whose_last_record_does_not_commit_still_ends(smtp_app, make_company, mailbox,
                                                            monkeypatch):
    task = make_task(make_company(), ["a@acme.example", "b@acme.example"])
    run_id, task_id = new_run(task).id, task.id
    commit_with_run = attempts._commit_with_run

    def failing(delivery, finish=None):  # the database refuses the run's end
        if finish is not None:
            raise sa.exc.OperationalError("COMMIT", {}, Exception("database is locked"))
        commit_with_run(delivery, finish)

    monkeypatch.setattr(attempts, "_commit_with_run", failing)
    run_report(run_id)
    db.session.expire_all()
    run = db.session.get(Run, run_id)
    assert run.status == "partial" and run.finished_at is not None  # not left "running"
    assert db.session.get(Task, task_id).status == "scheduled"
    sent = deliveries(run_id)
    assert sent["a@acme.example"].status == "sent"
    # sent but not recorded: a recovery retries it later with the same Message-ID
    assert (sent["b@acme.example"].status, sent["b@acme.example"].attempts) == ("sending", 1)
    assert sorted(r for rcpts, _ in mailbox.messages for r in rcpts) == [
        "a@acme.example", "b@acme.example"]
