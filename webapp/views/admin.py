"""Administration: the built-in mail outbox and the audit log (filters, paging, CSV)."""

from __future__ import annotations

import csv
import io
import json

import sqlalchemy as sa
from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from flask_login import current_user, login_required

from jobs.reports.csv import escape_cell
from roles import permissions as P
from roles.access import require_permission

from ..extensions import db
from ..models import OutboxMessage
from ..services import audit
from ..services.errors import InputError
from ..tenancy import get_for_company_or_404

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def _login():
    return None


@bp.get("/outbox")
@require_permission(P.VIEW_OUTBOX)
def outbox():
    messages = db.session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.company_id == current_user.company_id)
        .order_by(OutboxMessage.id.desc()).limit(500)).all()
    return render_template("admin/outbox.html", messages=messages)


@bp.get("/outbox/<int:message_id>")
@require_permission(P.VIEW_OUTBOX)
def outbox_message(message_id: int):
    message = get_for_company_or_404(OutboxMessage, message_id)
    return render_template("admin/outbox_message.html", message=message)


@bp.get("/audit")
@require_permission(P.VIEW_AUDIT)
def audit_log():
    try:
        filters = audit.parse_filters(request.args)
    except InputError as exc:
        filters, errors = audit.Filters(), exc.fields
    else:
        errors = {}
    events, cursor = audit.page(current_user.company_id, filters)
    args = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return render_template("admin/audit.html", events=events, cursor=cursor, args=args,
                           errors=errors), (422 if errors else 200)


@bp.get("/audit.csv")
@require_permission(P.VIEW_AUDIT)
def audit_csv():
    """Every event the filters select (the cursor ignored), as CSV, streamed page by page."""
    try:
        filters = audit.parse_filters(request.args)
    except InputError as exc:
        abort(422, description="; ".join(exc.fields.values()))
    filters.cursor = None
    company_id = current_user.company_id

    def rows():
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["id", "at", "actor", "action", "result", "target_type", "target_id",
                         "target_name", "details", "ip"])
        while True:
            events, filters.cursor = audit.page(company_id, filters, limit=500)
            for event in events:
                data = audit.as_dict(event)
                data["details"] = json.dumps(data["details"], ensure_ascii=False)
                writer.writerow([escape_cell(v) for v in data.values()])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if filters.cursor is None:
                return

    return Response(stream_with_context(rows()), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=audit.csv"})
