"""A user's alerts: opting in to the emails about every task's failed runs and silences
(jobs/alerts.py), for users who may edit scheduled reports. A task's owner gets its alerts
anyway."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from roles import permissions as P
from roles.access import require_permission

from ..extensions import db

bp = Blueprint("alerts", __name__)


@bp.before_request
@login_required
def _login():
    return None


@bp.post("/alerts")
@require_permission(P.EDIT_TASKS)
def update():
    current_user.failure_alerts = request.form.get("failure_alerts") == "1"
    db.session.commit()
    flash("You will get an email when a run fails or a task goes silent." if
          current_user.failure_alerts else
          "You will get alerts only for the tasks you created.", "ok")
    return redirect(url_for("tasks.index"))
