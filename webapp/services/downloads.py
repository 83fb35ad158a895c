"""Seeing a run and downloading its report: one path for the portal and the API.

Every download attempt, allowed or refused, leaves an audit event. Refusals raise the HTTP
errors (403, 404) that portal and API both render in their own way.
"""

from __future__ import annotations

from flask import Response, abort, current_app, redirect, stream_with_context

from jobs.reports import storage
from roles import permissions as P
from roles.access import can, can_download

from ..extensions import db
from ..models import Run
from ..tenancy import get_for_company_or_404
from . import audit


def visible_run(run_id: int) -> Run:
    """A run of the user's company that the user may see: task viewers and downloaders."""
    run = get_for_company_or_404(Run, run_id)
    if not (can(P.VIEW_TASKS) or can_download(run.task.report_type)):
        abort(403, description="You do not have permission to see this report. Ask your "
                               "company administrator for its download permission.")
    return run


def _audit(run: Run, allowed: bool) -> None:
    audit.record("run.download" if allowed else "run.download_refused", run,
                 result="allowed" if allowed else "refused")
    db.session.commit()


def _missing(run: Run) -> str:
    if run.status == "expired":
        return ("This report's file was deleted when it reached the retention period "
                f"({current_app.config['REPORT_RETENTION_DAYS']} days); the run's history is "
                "kept.")
    return ("This run has no report file (it has not finished, or failed before the file "
            "was written).")


def send_report(run_id: int):
    """The file of a finished run of the user's company, for a user who may download it."""
    run = get_for_company_or_404(Run, run_id)
    allowed = can_download(run.task.report_type)
    if not allowed:
        _audit(run, False)
        abort(403, description="You do not have the permission to download this report "
                               f"(“{P.DOWNLOADS[run.task.report_type]}”). Ask your company "
                               "administrator for it.")
    seconds = current_app.config.get("REPORT_DOWNLOAD_URL_SECONDS") or 0
    if seconds and storage.exists(run) and (url := storage.presigned_url(run, seconds)):
        _audit(run, True)
        return redirect(url, 302)  # the store serves the file itself, for a short while
    try:
        chunks, size = storage.open_report(run)
    except FileNotFoundError:
        abort(404, description=_missing(run))
    _audit(run, True)
    gzipped = run.file_name.endswith(".gz")  # the task's option "gzip": a .csv.gz file
    response = Response(stream_with_context(chunks), direct_passthrough=True,
                        mimetype="application/gzip" if gzipped else "text/csv")
    response.content_length = size
    response.headers.set("Content-Disposition", "attachment", filename=run.file_name)
    response.headers["Cache-Control"] = "private, no-store"
    return response
