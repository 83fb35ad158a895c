"""A run's page, its live status fragment and the CSV download (audited)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, url_for
from flask_login import login_required

from jobs.reports import registry
from roles import permissions as P
from roles.access import can_download, require_permission

from ..htmx import render
from ..models import Run
from ..services import deliveries, downloads
from ..tenancy import get_for_company_or_404

bp = Blueprint("runs", __name__)


@bp.before_request
@login_required
def _login():
    return None


@bp.get("/runs/<int:run_id>")
def show(run_id: int):
    run = downloads.visible_run(run_id)
    return render("runs/show.html", "status", run=run, report=registry.get(run.task.report_type),
                  may_download=can_download(run.task.report_type),
                  retryable=deliveries.retryable(run))


@bp.post("/runs/<int:run_id>/retry")
@require_permission(P.EDIT_TASKS)
def retry(run_id: int):
    """Retry the run's failed deliveries now rather than at their next attempt time."""
    count = deliveries.retry_now(get_for_company_or_404(Run, run_id), datetime.now(UTC))
    flash(f"Retrying {count} failed deliver{'y' if count == 1 else 'ies'} now." if count else
          "No failed delivery has an attempt left.")
    return redirect(url_for("runs.show", run_id=run_id))


@bp.get("/runs/<int:run_id>/download")
def download(run_id: int):
    return downloads.send_report(run_id)
