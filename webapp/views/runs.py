"""A run's page, its live status fragment and the CSV download (audited)."""

from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

from jobs.reports import registry
from roles.access import can_download

from ..htmx import render
from ..services import downloads

bp = Blueprint("runs", __name__)


@bp.before_request
@login_required
def _login():
    return None


@bp.get("/runs/<int:run_id>")
def show(run_id: int):
    run = downloads.visible_run(run_id)
    return render("runs/show.html", "status", run=run, report=registry.get(run.task.report_type),
                  may_download=can_download(run.task.report_type))


@bp.get("/runs/<int:run_id>/download")
def download(run_id: int):
    return downloads.send_report(run_id)
