"""A real Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the live server.

Without chromium the browser tests skip locally, with one line naming the install command;
in CI (CI=true) they fail instead. A console error or an uncaught page error fails the test
that caused it."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
INSTALL = "apt-get install chromium"
# The screenshots go to build/screenshots (ignored by git: a test run leaves the checkout
# clean); SCREENSHOTS_DIR=docs/screenshots refreshes the README's.
ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / os.environ.get("SCREENSHOTS_DIR", "build/screenshots")
WIDTHS = {"desktop": 1280, "phone": 390}

_skip_reported = False


def pytest_terminal_summary(terminalreporter):
    from .pages import AXE_COUNTS

    for line in AXE_COUNTS:
        terminalreporter.write_line(line)


def _chromium_missing() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (make test installs it)"
    return None


@pytest.fixture(scope="session")
def browser(request) -> Iterator:
    global _skip_reported
    missing = _chromium_missing()
    if missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"browser tests are mandatory in CI: {missing}; run `{INSTALL}`")
        if not _skip_reported:  # one line for the whole session
            request.config.get_terminal_writer().line(
                f"\nbrowser tests skipped: {missing}; install it with `{INSTALL}`")
            _skip_reported = True
        pytest.skip(f"{missing}: `{INSTALL}`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class PageProblems:
    """Console errors and uncaught exceptions seen by a page."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def watch(self, page) -> None:
        page.on("console", lambda m: m.type == "error" and self.seen.append(
            f"console error on {page.url}: {m.text}"))
        page.on("pageerror", lambda e: self.seen.append(f"page error on {page.url}: {e}"))

    def expect_statuses(self, *codes: int) -> None:
        """Chromium logs a page answered 4xx as a console error: drop those a test expects
        (a form sent back with its errors answers 422)."""
        pattern = re.compile(rf"status of ({'|'.join(map(str, codes))}) ")
        self.seen[:] = [s for s in self.seen if not pattern.search(s)]


@pytest.fixture
def problems() -> Iterator[PageProblems]:
    found = PageProblems()
    yield found
    assert found.seen == [], "\n".join(found.seen)


@pytest.fixture
def new_page(browser, live, problems):
    """new_page(width=1280, **context options) → a page in a fresh context (its own cookies),
    watched; e.g. new_page(390, color_scheme="dark")."""
    contexts = []

    def make(width: int = WIDTHS["desktop"], **options):
        context = browser.new_context(base_url=live.url, accept_downloads=True,
                                      viewport={"width": width, "height": 900}, **options)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        problems.watch(page)
        return page

    yield make
    for context in contexts:
        context.close()


def log_in(page, email: str, password: str = PASSWORD) -> None:
    """Log in through the form of whatever page we are on (the login page, or a redirect)."""
    if "/login" not in page.url:
        page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:3000]


def accepting_confirm(page) -> list[str]:
    """The page's next confirm dialog is accepted; its message lands in the list returned."""
    asked: list[str] = []

    def accept(dialog):
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    return asked


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
