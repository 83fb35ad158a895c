"""My reports: what a recipient sees first (the landing page of anyone who cannot see the
task list)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user, login_required

from jobs.reports import registry
from roles import permissions as P
from roles.access import can_download

from ..services import my_reports
from .listing import kept, parsed, status

bp = Blueprint("my", __name__, url_prefix="/my")


@bp.before_request
@login_required
def _login():
    return None


def availability(run) -> tuple[bool, str]:
    """(may download, why not): the permission missing, or the state of the run's file."""
    if not can_download(run.task.report_type):
        return False, (f"You need the permission “{P.DOWNLOADS[run.task.report_type]}” to "
                       "download it: ask your company administrator.")
    if run.status == "expired":
        return False, (f"Expired: files are kept {current_app.config['REPORT_RETENTION_DAYS']}"
                       " days.")
    if run.status in ("queued", "running"):
        return False, "Being prepared."
    if not run.file_name:
        return False, "No file: this run failed."
    return True, ""


@bp.get("/reports")
def reports():
    timezone = current_user.company.timezone
    filters, errors = parsed(my_reports.parse_filters)
    page = my_reports.page(current_user, filters, timezone)
    types = my_reports.report_types(current_user)
    return render_template(
        "my/reports.html", rows=[(run, *availability(run)) for run in page.items],
        cursor=page.next_cursor, args=kept("cursor"), errors=errors,
        types=[registry.get(t) for t in types], registry=registry,
        first_page=filters.cursor is None), status(errors)
