"""The portal reads well everywhere: every page, found by following the navigation and the
links from the home page, at 1280 and 390 px, has no sideways scrolling and no serious or
critical axe-core violation; error pages are pages of the portal; dark mode is honoured."""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import PASSWORD

from ..conftest import Tenant, make_tenant
from . import pages
from .conftest import WIDTHS, log_in, screenshot


@pytest.fixture(scope="module")
def globex(live) -> Tenant:
    """A company with demo data, a task that ran, a custom role and a plain viewer."""
    tenant = make_tenant(live, "Globex Bank")
    live.cli("demo", "seed", "--company", tenant.slug, "--days", "2", "--messages", "200")
    api = f"{live.url}/api/v1"

    def post(path: str, payload: dict) -> dict:
        response = requests.post(api + path, json=payload, headers=tenant.headers, timeout=60)
        assert response.status_code in (201, 202), response.text
        return response.json()

    task = post("/tasks", {
        "name": "Rooms on WhatsApp and iMessage", "report_type": "usage_by_rooms",
        "channels": ["whatsapp", "imessage"],
        "schedule": {"kind": "weekly", "weekday": "mon", "time": "06:30"},
        "recipients": {"emails": [tenant.admin_email, "vera@globex-bank.example"]}})
    run = post(f"/tasks/{task['id']}/runs", {})
    deadline = time.monotonic() + 90
    while run["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, live.log()
        time.sleep(0.3)
        run = requests.get(f"{api}/runs/{run['id']}", headers=tenant.headers, timeout=30).json()
    post("/roles", {"name": "Room readers", "permissions": ["scheduled_reports.view"]})
    live.cli("users", "create", "--company", tenant.slug, "--email", "vera@globex-bank.example",
             "--password", PASSWORD, "--name", "Vera")
    return tenant


LOOKS = {"desktop": (WIDTHS["desktop"], "light"), "phone": (WIDTHS["phone"], "light"),
         "desktop-dark": (WIDTHS["desktop"], "dark")}


@pytest.mark.parametrize(("width", "scheme"), LOOKS.values(), ids=LOOKS.keys())
def test_every_page_fits_the_screen_and_passes_axe(new_page, globex, width, scheme):
    """Each page the admin can reach: scrollWidth ≤ the screen, no serious or critical axe
    violation, and on a phone every control ≥ 44 px."""
    page = new_page(width, color_scheme=scheme)
    problems: list[str] = []

    def check(endpoint: str, path: str) -> None:
        problems.extend(_check(page, endpoint, path, width, scheme))

    for endpoint, path in (("auth.login", "/login"), ("passwords.forgot", "/password/forgot")):
        page.goto(path)  # the pages of someone not logged in
        check(endpoint, path)
    log_in(page, globex.admin_email)
    reached = pages.crawl(page, "/", visit=check)
    missing = pages.page_endpoints() - set(reached) - {"auth.login", "passwords.forgot"}
    assert not missing, (f"no link leads to {sorted(missing)}: link them from a page, or list "
                         "them in pages.NOT_PAGES if they are no page")
    assert not problems, "\n".join(problems)
    if width == WIDTHS["phone"]:
        page.goto(reached["tasks.index"])
        screenshot(page, "task-list-phone")
    if scheme == "dark":
        page.goto(reached["tasks.show"])
        screenshot(page, "dark-mode")


def _check(page, endpoint: str, path: str, width: int, scheme: str = "light") -> list[str]:
    problems = []
    wide = pages.scroll_width(page)
    if wide > width:
        problems.append(f"{path} at {width} px: scrollWidth {wide}: "
                        f"{pages.sideways_overflow(page)}")
    if width == WIDTHS["phone"] and (small := pages.small_targets(page)):
        problems.append(f"{path} at {width} px: touch targets under 44 px: {small}")
    found = pages.axe_violations(page)
    bad = pages.serious(found)
    pages.AXE_COUNTS.append(
        f"axe {width:>4} px {scheme:<5} {endpoint:<18} {path:<26} serious/critical "
        f"{len(bad):>2}  all {len(found):>2}  [{', '.join(v['id'] for v in found)}]")
    if bad:
        problems.append(f"{path} at {width} px ({scheme}):\n{pages.describe(bad)}")
    return problems
