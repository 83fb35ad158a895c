"""Blueprints: one per module."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Flask, jsonify
from flask_wtf.csrf import CSRFError

from jobs import schedule as sched
from jobs import schedule_words
from roles import permissions as P
from roles.access import can, can_download

from . import (
    account,
    admin,
    alerts,
    auth,
    drafts,
    errors,
    my,
    operations,
    passwords,
    roles,
    runs,
    sso,
    tasks,
    users,
    words,
)
from .api import bp as api_bp
from .listing import row_url
from .nav import nav_links


def register_blueprints(app: Flask) -> None:
    for bp in (auth.bp, account.bp, passwords.bp, tasks.bp, runs.bp, my.bp, admin.bp, roles.bp,
               users.bp, sso.bp, operations.bp, alerts.bp, api_bp):
        app.register_blueprint(bp)

    errors.init_app(app)
    words.init_app(app)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        """A form sent after its session expired loses nothing typed (views/drafts.py)."""
        kept = drafts.kept_for_request()
        return drafts.session_expired(kept) if kept else errors.http_error(exc)

    app.jinja_env.globals.update(can=can, can_download=can_download, P=P, nav_links=nav_links,
                                 describe=schedule_words.describe, schedule_of=sched.of,
                                 window=schedule_words.window, row_url=row_url)
    app.jinja_env.filters["local"] = _local

    @app.get("/favicon.ico")  # for clients that ask there, whatever the page's <link> says
    def favicon():
        return app.send_static_file("favicon.svg")

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")


def _local(value, tz: str, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """An instant in a time zone, for pages."""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt) if value else "—"
