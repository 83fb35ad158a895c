"""Every page of the portal, found as a person finds it: from the navigation and the links on
each page, one address per endpoint of the URL map; and the checks run on each page: no
sideways scrolling, and axe-core's accessibility rules."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

AXE = Path(__file__).with_name("axe.min.js")
INSTALL_AXE = "make axe (scripts/install_axe.sh)"

# GET routes that are no page: files, fragments, CSV exports, redirects to an identity
# provider, the outbox's messages (mail goes to the SMTP server here, so the outbox stays
# empty), and the set-password page, which only an emailed link opens
# (tests/e2e/browser/test_recipients.py walks it).
NOT_PAGES = {"static", "favicon", "healthz", "tasks.preview", "tasks.channels",
             "tasks.schedule_fields", "runs.download", "sso.start", "sso.login", "sso.callback",
             "admin.outbox_message", "admin.audit_csv", "admin.outbox_csv",
             "passwords.set_password", "operations.readyz", "operations.metrics"}
SERIOUS = ("serious", "critical")
AXE_COUNTS: list[str] = []  # one line per page and width, printed at the end of the run


@cache
def _url_map():
    from webapp import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return app.url_map


def page_endpoints() -> set[str]:
    """Every GET endpoint of the portal that shows a page."""
    return {r.endpoint for r in _url_map().iter_rules()
            if "GET" in r.methods and not r.rule.startswith("/api/")} - NOT_PAGES


def endpoint_of(path: str) -> str | None:
    from werkzeug.exceptions import HTTPException
    from werkzeug.routing import RequestRedirect

    try:
        endpoint, _ = _url_map().bind("herald.test").match(path, method="GET")
    except (HTTPException, RequestRedirect):
        return None
    return endpoint


def crawl(page, start: str = "/", visit=None, per_endpoint: int = 8) -> dict[str, str]:
    """{endpoint: path}: one address per page reachable by links from ``start``, breadth
    first (the navigation first, as people go); ``visit(endpoint, path)`` is called on each
    page the first time its endpoint is shown. Up to ``per_endpoint`` addresses of one
    endpoint are opened to find links (a custom role's page links to its edit page, a
    built-in role's does not); query strings are ignored. A path that redirects (``/``)
    counts for its own endpoint too."""
    found: dict[str, str] = {}
    queue, seen = [start], {start}
    while queue:
        path = queue.pop(0)
        page.goto(path)
        here = urlsplit(page.url)
        endpoint = endpoint_of(here.path)
        if endpoint is None or endpoint in NOT_PAGES:
            continue
        if here.path != path and endpoint_of(path):
            found.setdefault(endpoint_of(path), path)  # a redirect, e.g. / → /tasks
        if endpoint not in found:
            found[endpoint] = here.path
            if visit:
                visit(endpoint, here.path)
        hrefs = page.locator("header a[href], main a[href]").evaluate_all(
            "links => links.map(a => a.href)")
        for href in hrefs:
            link = urlsplit(href)
            target = endpoint_of(link.path) if link.netloc == here.netloc else None
            if link.path in seen or target is None or target in NOT_PAGES:
                continue
            seen.add(link.path)
            if sum(endpoint_of(p) == target for p in seen) <= per_endpoint:
                queue.append(link.path)
    return found


def styled(page) -> None:
    """Wait for the page's load event: its stylesheet applied. An element can be found (and a
    layout read) before then, e.g. right after a click that sent a form, and sizes measured
    without the stylesheet are the browser's defaults (a 21 px high button)."""
    page.wait_for_load_state("load")


def sideways_overflow(page) -> list[str]:
    """Elements sticking out past the right edge of the viewport (none: no sideways scroll)."""
    styled(page)
    return page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        if (document.documentElement.scrollWidth <= width) return [];
        return [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > width + 1
                         || e.scrollWidth > e.clientWidth + 1
                            && getComputedStyle(e).overflowX === 'visible')
            .slice(0, 5).map(e => e.outerHTML.slice(0, 120));
    }""")


def small_targets(page, least: int = 44) -> list[str]:
    """Visible controls and links smaller than ``least`` px either way. A checkbox or radio
    counts by its label (the label is what a finger presses); a link inside a sentence is
    exempt, as WCAG's target-size criteria exempt it."""
    styled(page)
    return page.evaluate("""(least) => {
        const inSentence = (a) => {
            const text = [...a.parentElement.childNodes].filter(n => n !== a)
                .map(n => n.textContent).join('').trim();
            return text.length > 0 && getComputedStyle(a).display === 'inline';
        };
        return [...document.querySelectorAll(
                'a[href], button, input:not([type=hidden]), select, textarea, summary')]
            .filter(e => !(e.tagName === 'A' && inSentence(e)))
            .map(e => ['checkbox', 'radio'].includes(e.type) ? (e.closest('label') || e) : e)
            .filter(e => e.getClientRects().length > 0)
            .filter(e => { const r = e.getBoundingClientRect();
                           return r.width < least - 0.5 || r.height < least - 0.5; })
            .slice(0, 8).map(e => { const r = e.getBoundingClientRect();
                return `${Math.round(r.width)}x${Math.round(r.height)} `
                       + e.outerHTML.slice(0, 100); });
    }""", least)


def scroll_width(page) -> int:
    styled(page)
    return page.evaluate("() => document.documentElement.scrollWidth")


@cache
def _axe_source() -> str:
    if not AXE.exists():
        raise AssertionError(f"{AXE} is missing: run `{INSTALL_AXE}`")
    return AXE.read_text(encoding="utf-8")


def axe_violations(page) -> list[dict]:
    """axe-core's violations on the page as it is: [{id, impact, help, nodes: [html…]}].

    The page's Content-Security-Policy forbids inline script and eval, so axe is not added as a
    <script>: Playwright evaluates it through the DevTools protocol, which the CSP does not
    govern, and axe runs where the page's own scripts run."""
    styled(page)  # contrast and sizes as the stylesheet makes them
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    return page.evaluate("""async () => {
        const result = await window.axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.html.slice(0, 160)),
            count: v.nodes.length}));
    }""")


def serious(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in SERIOUS]


def describe(violations: list[dict]) -> str:
    return "\n".join(f"  {v['impact']}: {v['id']} ({v['count']}×) {v['help']}: {v['nodes']}"
                     for v in violations)
