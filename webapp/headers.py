"""Security headers on every answer, and ``Cache-Control: no-store`` on what a login shows.

The Content-Security-Policy allows scripts and styles from Herald itself only: no inline
script or handler (the pages' behaviour is in static/herald.js), no eval (htmx runs with
``allowEval`` off, see base.html). Pages may not be framed (clickjacking)."""

from __future__ import annotations

from flask import Flask, request
from flask_login import current_user

CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
))


def init_app(app: Flask) -> None:
    hsts = app.config["BASE_URL"].startswith("https://")

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        if hsts:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint != "static" and (
                request.path.startswith("/api/") or current_user.is_authenticated):
            headers["Cache-Control"] = "no-store"
        return response
