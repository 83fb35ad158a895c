"""The portal's Audit log filters over HTTP on the live server: Since and Until read in the
company's time zone (Europe/London) as a datetime-local box sends them, ISO 8601 with its
offset still taken, the CSV export link carrying the same period; a bad filter answers 422
with its message and no events; a filter matching nothing says so."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from html import unescape

import requests
import sqlalchemy as sa

from webapp.models import AuditEvent, Company

from .conftest import make_tenant
from .test_security import portal_login

TIMEOUT = 60
SUMMER = datetime(2026, 7, 1, 10, 30, tzinfo=UTC)  # 11:30 in London (BST)


def add_events(live, slug: str, events: list[tuple[str, datetime]]) -> None:
    """Events at given times, written straight into the table."""
    engine = sa.create_engine(live.database_url)
    with engine.begin() as conn:
        company_id = conn.scalar(sa.select(Company.id).where(Company.slug == slug))
        conn.execute(sa.insert(AuditEvent.__table__), [
            {"company_id": company_id, "actor": "system", "action": action, "result": "ok",
             "target_type": "task", "target_name": action, "at": at} for action, at in events])
    engine.dispose()


def rows_of(page: str) -> list[str]:
    return re.findall(r"<td>(task\.\w+)</td>", page)


def test_audit_period_in_the_company_zone_errors_and_empty_filters(live):
    tenant = make_tenant(live, "Audit Period Co")
    add_events(live, tenant.slug, [("task.update", SUMMER)])
    browser = portal_login(live, tenant.admin_email).browser
    url = f"{live.url}/admin/audit"

    local = browser.get(url, params={"since": "2026-07-01T11:00", "until": "2026-07-01T12:00"},
                        timeout=TIMEOUT)
    assert local.status_code == 200 and rows_of(local.text) == ["task.update"]
    assert "Since (Europe/London)" in local.text
    assert 'type="datetime-local" name="since" value="2026-07-01T11:00"' in local.text
    export = unescape(re.search(r'href="([^"]+)">Export CSV', local.text).group(1))
    assert "since=2026-07-01T11:00:00%2B01:00" in export
    rows = list(csv.reader(io.StringIO(browser.get(live.url + export, timeout=TIMEOUT).text)))
    assert [r[3] for r in rows[1:]] == ["task.update"]
    # 11:45 London is 10:45 UTC: after the event (read as UTC it would be before it)
    later = browser.get(url, params={"since": "2026-07-01T11:45", "until": "2026-07-01T12:00"},
                        timeout=TIMEOUT)
    assert later.status_code == 200 and rows_of(later.text) == []
    assert "No events match these filters." in later.text and "Nothing yet." not in later.text
    iso = browser.get(url, params={"since": "2026-07-01T10:00:00+00:00",
                                   "until": "2026-07-01T11:00:00Z"}, timeout=TIMEOUT)
    assert iso.status_code == 200 and rows_of(iso.text) == ["task.update"]

    bad = browser.get(url, params={"since": "yesterday", "action": "task"}, timeout=TIMEOUT)
    assert bad.status_code == 422
    assert 'id="error-since"' in bad.text and 'aria-describedby="error-since"' in bad.text
    assert rows_of(bad.text) == [] and 'id="audit"' not in bad.text
    assert "The events are shown once the filters are fixed." in bad.text
    assert browser.get(f"{url}.csv", params={"since": "yesterday"},
                       timeout=TIMEOUT).status_code == 422
    # the API keeps its ISO contract: a local time without an offset is refused
    api = requests.get(f"{live.url}/api/v1/audit", params={"since": "2026-07-01T11:00"},
                      headers=tenant.headers, timeout=TIMEOUT)
    assert api.status_code == 422
