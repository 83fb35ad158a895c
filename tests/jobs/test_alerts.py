"""Alerts (jobs/alerts.py) at a real SMTP server: a failed or partial run emails the task's
owner and the editors who opted in, once; a silent task raises one alert and one
"recovered" when a scheduled run succeeds again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs import alerts
from jobs.runner import run_report
from roles.permissions import ADMIN_ROLE, VIEWER_ROLE
from webapp.extensions import db
from webapp.models import Run, Task, User
from webapp.services.people import create_user

from ..roles.helpers import make_task

GRACE = timedelta(minutes=30)


@pytest.fixture
def team(smtp_app, make_company, mailbox):
    """A company with its admin (the tasks' owner), an opted-in editor, an editor who did not
    opt in, and an opted-in viewer (who may not edit, so gets nothing)."""
    company = make_company()
    people = {}
    for name, role, opted in (("editor", ADMIN_ROLE, True), ("quiet", ADMIN_ROLE, False),
                              ("viewer", VIEWER_ROLE, True)):
        user = create_user(company, f"{name}@acme.example", roles=[role])
        user.failure_alerts = opted
        people[name] = user
    db.session.commit()
    owner = db.session.scalar(db.select(User).where(User.company_id == company.id,
                                                    User.email.like("admin@%")))
    task = make_task(company, ["ops@acme.example"])
    task.created_by_id = owner.id
    db.session.commit()
    return task


def alerted(mailbox) -> list[tuple[str, str]]:
    return sorted((rcpt, message["Subject"]) for rcpts, message in mailbox.messages
                  for rcpt in rcpts)


def test_a_failed_run_alerts_the_owner_and_opted_in_editors_once(team, mailbox, monkeypatch):
    from jobs.reports import registry

    rtype = registry.get(team.report_type)
    monkeypatch.setattr(type(rtype), "statement", lambda self, ctx: 1 / 0)
    run = Run(company_id=team.company_id, task_id=team.id, trigger="manual",
              window_start=datetime.now(UTC) - timedelta(days=1), window_end=datetime.now(UTC),
              status="queued")
    db.session.add(run)
    db.session.commit()
    with pytest.raises(ZeroDivisionError):
        run_report(run.id)
    now = datetime.now(UTC)
    assert alerts.alert_failed_runs(now) == [run.id]
    assert alerted(mailbox) == [("admin@acme-bank.example", "[Acme Bank] Rooms daily: run failed"),
                                ("editor@acme.example", "[Acme Bank] Rooms daily: run failed")]
    body = mailbox.messages[0][1].get_content()
    assert "ZeroDivisionError" in body and f"/runs/{run.id}" in body
    assert alerts.alert_failed_runs(now) == []  # once
    assert len(mailbox.messages) == 2


def test_an_alert_that_could_not_be_sent_is_tried_again(team, mailbox, smtp_app):
    run = Run(company_id=team.company_id, task_id=team.id, trigger="manual", status="partial",
              window_start=datetime.now(UTC), window_end=datetime.now(UTC),
              finished_at=datetime.now(UTC))
    db.session.add(run)
    db.session.commit()
    server = smtp_app.config["SMTP_URL"]
    smtp_app.config["SMTP_URL"] = "smtp://127.0.0.1:1"  # nobody listens there
    assert alerts.alert_failed_runs(datetime.now(UTC)) == []
    assert db.session.get(Run, run.id).alerted_at is None
    smtp_app.config["SMTP_URL"] = server
    assert alerts.alert_failed_runs(datetime.now(UTC)) == [run.id]
    assert [s for _, s in alerted(mailbox)] == ["[Acme Bank] Rooms daily: run partial"] * 2


def test_a_silent_task_alerts_once_then_recovers_once(team, mailbox):
    now = datetime.now(UTC)
    due = now - GRACE - timedelta(minutes=1)
    team.success_due_at, team.watermark = due, due  # its run at `due` was dispatched, failed
    db.session.commit()
    assert alerts.check_silent_tasks(now, GRACE) == {"silent": [team.id], "recovered": []}
    assert alerts.check_silent_tasks(now, GRACE) == {"silent": [], "recovered": []}
    assert [s for _, s in alerted(mailbox)] == ["[Acme Bank] Rooms daily: silent task"] * 2
    assert "has not succeeded within 30 minutes" in mailbox.messages[0][1].get_content()

    # A scheduled run succeeds: the task's next due success moves on; one "recovered".
    run = Run(company_id=team.company_id, task_id=team.id, trigger="scheduled",
              scheduled_for=now, window_start=due, window_end=now, status="queued")
    db.session.add(run)
    db.session.commit()
    run_report(run.id)
    db.session.expire_all()
    task = db.session.get(Task, team.id)
    assert task.success_due_at > now  # the following daily instant
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert alerts.check_silent_tasks(later, GRACE) == {"silent": [], "recovered": [team.id]}
    assert alerts.check_silent_tasks(later, GRACE) == {"silent": [], "recovered": []}
    assert db.session.get(Task, team.id).silent_since is None
    subjects = [s for _, s in alerted(mailbox)]
    assert subjects.count("[Acme Bank] Rooms daily: recovered") == 2


def test_not_silent_within_the_grace_or_when_the_instant_was_moved(team, mailbox):
    now = datetime.now(UTC)
    team.success_due_at = team.watermark = now - GRACE + timedelta(minutes=1)
    db.session.commit()
    assert alerts.check_silent_tasks(now, GRACE)["silent"] == []
    # The schedule was edited: the instant due was never dispatched, the next is ahead.
    team.success_due_at = now - timedelta(hours=2)
    team.watermark = now - timedelta(days=1)
    team.next_run_at = now + timedelta(hours=1)
    db.session.commit()
    assert alerts.check_silent_tasks(now, GRACE)["silent"] == []
    # The dispatcher stopped: the next instant itself is over the grace late.
    team.next_run_at = now - GRACE - timedelta(minutes=5)
    db.session.commit()
    assert alerts.check_silent_tasks(now, GRACE)["silent"] == [team.id]
    assert mailbox.messages


def test_a_new_task_gets_its_first_due_success(team):
    team.success_due_at = None
    db.session.commit()
    alerts.check_silent_tasks(datetime.now(UTC), GRACE)
    db.session.expire_all()
    task = db.session.get(Task, team.id)
    assert task.success_due_at == task.next_run_at is not None
