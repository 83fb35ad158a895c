"""A run's page, its live status fragment and the CSV download (audited)."""

from __future__ import annotations

import os

from flask import Blueprint, abort, request, send_file
from flask_login import current_user, login_required

from jobs.reports import registry
from jobs.runner import report_path
from roles import permissions as P
from roles.access import can, can_download

from ..extensions import db
from ..htmx import render
from ..models import AuditEvent, Run
from ..tenancy import get_for_company_or_404

bp = Blueprint("runs", __name__)


@bp.before_request
@login_required
def _login():
    return None


def load_visible_run(run_id: int) -> Run:
    """A run of the user's company that the user may see: task viewers and downloaders."""
    run = get_for_company_or_404(Run, run_id)
    if not (can(P.VIEW_TASKS) or can_download(run.task.report_type)):
        abort(403, description="You do not have permission to see this report. Ask your "
                               "company administrator for its download permission.")
    return run


@bp.get("/runs/<int:run_id>")
def show(run_id: int):
    run = load_visible_run(run_id)
    return render("runs/show.html", "status", run=run, report=registry.get(run.task.report_type),
                  may_download=can_download(run.task.report_type))


def audit_download(run: Run, allowed: bool) -> None:
    db.session.add(AuditEvent(company_id=run.company_id, user_id=current_user.id, run_id=run.id,
                              action="download", result="allowed" if allowed else "refused",
                              remote_addr=request.remote_addr))
    db.session.commit()


def send_run_csv(run: Run):
    """The file of a finished run, for a user who may download it; every attempt audited."""
    allowed = can_download(run.task.report_type)
    if not allowed:
        audit_download(run, False)
        abort(403, description="You do not have the permission to download this report "
                               f"(“{P.DOWNLOADS[run.task.report_type]}”). Ask your company "
                               "administrator for it.")
    if not run.file_name or not os.path.exists(report_path(run)):
        abort(404, description="This run has no report file (it has not finished, or failed "
                               "before the file was written).")
    audit_download(run, True)
    return send_file(report_path(run), mimetype="text/csv", as_attachment=True,
                     download_name=run.file_name)


@bp.get("/runs/<int:run_id>/download")
def download(run_id: int):
    run = get_for_company_or_404(Run, run_id)
    return send_run_csv(run)
