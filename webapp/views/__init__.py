"""Blueprints: one per module."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from jobs import schedule as sched
from jobs import schedule_words
from roles import permissions as P
from roles.access import can, can_download

from . import (
    account,
    admin,
    alerts,
    auth,
    my,
    operations,
    passwords,
    roles,
    runs,
    sso,
    task_form,
    tasks,
    users,
)
from .api import bp as api_bp
from .api.errors import error_response


def register_blueprints(app: Flask) -> None:
    for bp in (auth.bp, account.bp, passwords.bp, tasks.bp, runs.bp, my.bp, admin.bp, roles.bp,
               users.bp, sso.bp, operations.bp, alerts.bp, api_bp):
        app.register_blueprint(bp)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith("/api/"):
            return error_response(exc.code, exc.name.lower().replace(" ", "_"),
                                  exc.description)
        return render_template("errors.html", error=exc), exc.code

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        """A task form sent after its session expired loses nothing typed."""
        if request.method == "POST" and request.endpoint in ("tasks.create", "tasks.edit"):
            return task_form.session_expired()
        return http_error(exc)

    app.jinja_env.globals.update(can=can, can_download=can_download, P=P,
                                 describe=schedule_words.describe, schedule_of=sched.of,
                                 window=schedule_words.window)
    app.jinja_env.filters["local"] = _local

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")


def _local(value, tz: str, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """An instant in a time zone, for pages."""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt) if value else "—"
