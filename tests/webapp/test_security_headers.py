"""Security headers on every answer (CSP without inline script, no framing, nosniff,
same-origin referrer, HSTS when BASE_URL is https) and no-store on what a login shows; no
template carries inline script or an event handler attribute."""

from __future__ import annotations

import re
from pathlib import Path

from webapp import create_app

from ..conftest import Auth

TEMPLATES = Path(__file__).resolve().parents[2] / "webapp" / "templates"


def test_every_answer_carries_the_security_headers(client, make_company, api_token):
    company = make_company("Acme Bank")
    login = client.get("/login")
    csp = login.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert login.headers["X-Content-Type-Options"] == "nosniff"
    assert login.headers["X-Frame-Options"] == "DENY"
    assert login.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in login.headers  # BASE_URL is http here
    assert login.headers.get("Cache-Control") != "no-store"  # nobody is logged in
    api = client.get("/api/v1/tasks", headers=api_token(company))
    assert api.headers["Cache-Control"] == "no-store" and "Content-Security-Policy" in api.headers
    assert Auth(client).login("admin@acme-bank.example").status_code == 302
    page = client.get("/tasks")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    static = client.get("/static/herald.css")
    assert static.headers.get("Cache-Control") != "no-store"
    static.close()


def test_hsts_when_the_base_url_is_https(app):
    config = {**app.config, "BASE_URL": "https://herald.example.com"}
    secure = create_app(config)
    answer = secure.test_client().get("/login")
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


def test_no_template_has_inline_script_or_handlers():
    found = []
    for path in TEMPLATES.rglob("*.html"):
        if "emails" in path.parts:
            continue  # mail bodies are never served as pages
        text = path.read_text()
        for pattern in (r"<script(?![^>]*\bsrc=)[^>]*>", r"\son[a-z]+\s*=", r"javascript:",
                        r"hx-on", r"js:"):
            found += [f"{path.name}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert found == []
