"""Seeing a run and downloading its report: one path for the portal and the API.

Every download attempt, allowed or refused, leaves an audit event. Refusals raise the HTTP
errors (403, 404) that portal and API both render in their own way.
"""

from __future__ import annotations

from flask import abort, request, send_file
from flask_login import current_user

from jobs.reports import storage
from roles import permissions as P
from roles.access import can, can_download

from ..extensions import db
from ..models import AuditEvent, Run
from ..tenancy import get_for_company_or_404


def visible_run(run_id: int) -> Run:
    """A run of the user's company that the user may see: task viewers and downloaders."""
    run = get_for_company_or_404(Run, run_id)
    if not (can(P.VIEW_TASKS) or can_download(run.task.report_type)):
        abort(403, description="You do not have permission to see this report. Ask your "
                               "company administrator for its download permission.")
    return run


def _audit(run: Run, allowed: bool) -> None:
    db.session.add(AuditEvent(company_id=run.company_id, user_id=current_user.id, run_id=run.id,
                              action="download", result="allowed" if allowed else "refused",
                              remote_addr=request.remote_addr))
    db.session.commit()


def send_report(run_id: int):
    """The file of a finished run of the user's company, for a user who may download it."""
    run = get_for_company_or_404(Run, run_id)
    allowed = can_download(run.task.report_type)
    if not allowed:
        _audit(run, False)
        abort(403, description="You do not have the permission to download this report "
                               f"(“{P.DOWNLOADS[run.task.report_type]}”). Ask your company "
                               "administrator for it.")
    if not storage.exists(run):
        abort(404, description="This run has no report file (it has not finished, or failed "
                               "before the file was written).")
    _audit(run, True)
    return send_file(storage.report_path(run), mimetype="text/csv", as_attachment=True,
                     download_name=run.file_name)
