"""My reports (in-process): a recipient's runs, newest first, Download or the missing
permission, filters by report type and period, keyset paging; the landing page of anyone
who cannot see the task list, so no 403 loop after login."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from jobs.runner import run_report
from roles import permissions as P
from webapp.extensions import db
from webapp.models import Role, RoleAssignment, Run, User
from webapp.services import tasks as task_service

RITA = "rita@acme-bank.example"


def make_task(company, emails, name="Rooms daily", report_type="usage_by_rooms"):
    data = task_service.validate(company, {
        "name": name, "report_type": report_type, "channels": ["whatsapp"],
        "schedule": {"kind": "daily", "time": "06:30", "timezone": "Europe/London"},
        "recipients": {"emails": emails}})
    task = task_service.save(company, data, datetime.now(UTC))
    db.session.commit()
    return task


def add_run(task, end: datetime, status="queued") -> Run:
    run = Run(company_id=task.company_id, task_id=task.id, trigger="manual",
              window_start=end - timedelta(days=1), window_end=end, status=status)
    db.session.add(run)
    db.session.commit()
    return run


def test_recipient_lands_on_my_reports_and_downloads(app, client, auth, make_company,
                                                      make_user):
    company = make_company()
    make_user(company, RITA)
    task = make_task(company, [RITA])
    other = make_task(company, ["someone@acme-bank.example"], name="Not for Rita")
    run = add_run(task, datetime(2026, 11, 30, 6, 30, tzinfo=UTC))
    run_report(run.id)
    hidden = add_run(other, datetime(2026, 11, 30, 6, 30, tzinfo=UTC))

    answer = auth.login(RITA)
    assert answer.status_code == 302 and answer.headers["Location"] == "/my/reports"
    page = client.get("/my/reports").get_data(as_text=True)
    assert "Rooms daily" in page and "Not for Rita" not in page
    assert "Mon 30 Nov 2026 06:30 – Tue 1 Dec 2026 06:30 (Europe/London)" not in page
    assert "Sun 29 Nov 2026 06:30 – Mon 30 Nov 2026 06:30 (Europe/London)" in page
    assert f'/runs/{run.id}/download' in page and f"/runs/{hidden.id}" not in page
    download = client.get(f"/runs/{run.id}/download")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    # The task list stays closed, and "/" never sends her there (no 403 loop).
    assert client.get("/tasks").status_code == 403
    assert client.get("/").headers["Location"].endswith("/my/reports")


def test_missing_permission_is_named(app, client, auth, make_company, make_user):
    company = make_company()
    make_user(company, RITA)
    task = make_task(company, [RITA])
    add_run(task, datetime(2026, 11, 30, 6, 30, tzinfo=UTC), status="succeeded")
    # SSO (or an admin) took the viewer role away: her page says which permission she lacks.
    rita = db.session.scalar(sa.select(User).where(User.email_key == RITA))
    db.session.execute(sa.delete(RoleAssignment).where(RoleAssignment.user_id == rita.id))
    db.session.commit()
    auth.login(RITA)
    page = client.get("/my/reports").get_data(as_text=True)
    assert f"You need the permission “{P.DOWNLOADS['usage_by_rooms']}”" in page
    assert "/download" not in page


def test_filters_and_paging(app, client, auth, make_company, make_user):
    company = make_company()
    make_user(company, RITA)
    rooms = make_task(company, [RITA])
    users = make_task(company, [RITA], name="Users weekly", report_type="usage_by_users")
    start = datetime(2026, 10, 1, 5, 30, tzinfo=UTC)
    ids = [add_run(rooms if i % 2 else users, start + timedelta(days=i), "failed").id
           for i in range(60)]
    auth.login(RITA)

    first = client.get("/my/reports").get_data(as_text=True)
    assert first.count('href="/runs/') == 25
    assert first.index(f'href="/runs/{ids[-1]}"') < first.index(f'href="/runs/{ids[-2]}"')
    seen, url = [], "/my/reports"
    while url:
        page = client.get(url).get_data(as_text=True)
        seen += [int(x) for x in re.findall(r'href="/runs/(\d+)"', page)]
        nxt = re.search(r'rel="next" href="([^"]+)"', page)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
    assert seen == sorted(ids, reverse=True)

    only_users = client.get("/my/reports?report_type=usage_by_users").get_data(as_text=True)
    assert "Users weekly" in only_users and "Rooms daily" not in only_users
    # A period (company time zone, both days included): windows reaching into 5–6 Oct.
    period = client.get("/my/reports?since=2026-10-05&until=2026-10-06").get_data(as_text=True)
    found = sorted(int(x) for x in re.findall(r'href="/runs/(\d+)"', period))
    assert found == [ids[4], ids[5], ids[6]]

    bad = client.get("/my/reports?since=yesterday&until=2026-01-01&report_type=nope")
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "Give a date as YYYY-MM-DD" in text and "Choose a report type" in text


def test_my_reports_is_tenant_scoped(app, client, auth, make_company, make_user):
    acme, other = make_company(), make_company("Other Bank")
    make_user(acme, RITA)
    make_user(other, RITA)
    run = add_run(make_task(other, [RITA], name="Other's task"),
                  datetime(2026, 11, 30, 6, 30, tzinfo=UTC))
    auth.login(RITA, company=acme.slug)
    page = client.get("/my/reports").get_data(as_text=True)
    assert "Other&#39;s task" not in page and f"/runs/{run.id}" not in page
    assert db.session.scalar(sa.select(Role.id).where(Role.company_id == acme.id))
