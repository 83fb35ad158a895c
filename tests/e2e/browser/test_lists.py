"""The lists in a real Chromium on the live server: the task list's search, filters, sorting and
pages; a task's run history paged by "Older runs" and filtered by status."""

from __future__ import annotations

import re

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import expect

from ..conftest import Tenant, make_tenant
from ..test_lists_live import add_runs
from .conftest import log_in


@pytest.fixture(scope="module")
def busy(live) -> tuple[Tenant, list[dict]]:
    """A company with 55 tasks (every third one off) and 70 runs of the first."""
    tenant = make_tenant(live, "Busy Bank")
    made = []
    for n in range(55):
        answer = requests.post(f"{live.url}/api/v1/tasks", headers=tenant.headers, timeout=60,
                               json={"name": f"Desk {n:02d}", "report_type": "usage_by_rooms"
                                     if n % 2 else "room_metadata", "channels": ["whatsapp"],
                                     "schedule": {"kind": "daily", "time": "06:30"},
                                     "recipients": {"emails": ["ops@busy.example"]},
                                     "active": n % 3 != 0})
        assert answer.status_code == 201, answer.text
        made.append(answer.json())
    task = made[0]
    engine = sa.create_engine(live.database_url)
    with engine.connect() as conn:
        company_id = conn.scalar(sa.text("SELECT company_id FROM tasks WHERE id = :t"),
                                 {"t": task["id"]})
    engine.dispose()
    add_runs(live.database_url, company_id, task["id"], 70)
    return tenant, made


def task_names(page) -> list[str]:
    return page.locator("#tasks tbody tr td:first-child a").all_inner_texts()


def test_task_list_search_filters_sort_and_pages(new_page, busy):
    tenant, _ = busy
    page = new_page()
    page.goto("/tasks")
    log_in(page, tenant.admin_email)
    expect(page.locator("#task-count")).to_have_text("55 tasks, page 1 of 2.")
    assert task_names(page)[:2] == ["Desk 00", "Desk 01"] and len(task_names(page)) == 50
    page.get_by_role("link", name="Next page").click()
    expect(page.locator("#task-count")).to_have_text("55 tasks, page 2 of 2.")
    assert task_names(page) == [f"Desk {n}" for n in range(50, 55)]
    page.get_by_role("link", name="Name").click()  # sorted by name: a click turns it over
    expect(page).to_have_url(re.compile(r"sort=-name"))
    assert task_names(page)[0] == "Desk 54"
    page.get_by_label("Search").fill("desk 1")
    page.locator("#task-filters").get_by_label("Activated").select_option("false")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#task-count")).to_have_text("3 tasks.")  # 12, 15, 18 are off
    assert task_names(page) == ["Desk 18", "Desk 15", "Desk 12"]
    page.get_by_label("Report type").select_option("room_metadata")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#task-count")).to_have_text("2 tasks.")
    page.get_by_label("Search").fill("nothing like it")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No task matches these filters.")).to_be_visible()
    page.get_by_role("link", name="Clear").click()
    expect(page.locator("#task-count")).to_have_text("55 tasks, page 1 of 2.")


def test_run_history_pages_and_filters(new_page, busy):
    tenant, made = busy
    page = new_page()
    page.goto(f"/tasks/{made[0]['id']}")
    log_in(page, tenant.admin_email)
    runs = page.locator("#runs tbody tr")
    expect(runs).to_have_count(50)
    first = runs.first.locator("a").inner_text()
    page.get_by_role("link", name="Older runs").click()
    expect(runs).to_have_count(20)
    assert int(runs.first.locator("a").inner_text()[1:]) < int(first[1:])
    expect(page.get_by_role("link", name="Older runs")).to_have_count(0)
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(runs).to_have_count(7)
    expect(page.locator("#runs .badge.failed")).to_have_count(7)
