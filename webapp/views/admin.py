"""Administration: the built-in mail outbox and the audit log (filters, paging, CSV)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from flask_login import current_user, login_required

from jobs.reports.csv import escape_cell
from roles import permissions as P
from roles.access import require_permission

from ..models import OutboxMessage
from ..services import audit, lists
from ..services.errors import InputError
from ..tenancy import get_for_company_or_404
from .listing import for_export, kept, local_period, parsed, status

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def _login():
    return None


@bp.get("/outbox")
@require_permission(P.VIEW_OUTBOX)
def outbox():
    query, errors = parsed(lists.outbox_query)
    page = lists.outbox(current_user.company_id, query)
    return render_template("admin/outbox.html", messages=page.items, cursor=page.next_cursor,
                           args=kept("cursor", "limit"), errors=errors), status(errors)


@bp.get("/outbox.csv")
@require_permission(P.VIEW_OUTBOX)
def outbox_csv():
    """Every message the filters select (the cursor ignored), as CSV, streamed."""
    query = for_export(lists.outbox_query)
    company_id = current_user.company_id
    pages = lists.every_page(lambda q: lists.outbox(company_id, q), query)
    return csv_stream("outbox.csv", ["id", "created_at", "to", "from", "subject", "message_id",
                                     "text_body"],
                      ([m.id, m.created_at.isoformat(), m.to_addr, m.from_addr, m.subject,
                        m.message_id, m.text_body] for page in pages for m in page))


@bp.get("/outbox/<int:message_id>")
@require_permission(P.VIEW_OUTBOX)
def outbox_message(message_id: int):
    message = get_for_company_or_404(OutboxMessage, message_id)
    return render_template("admin/outbox_message.html", message=message)


@bp.get("/audit")
@require_permission(P.VIEW_AUDIT)
def audit_log():
    """Since and Until are read in the company's time zone; with a bad filter the page shows
    its message by the box and no events (422), never a list that looks filtered."""
    zone = current_user.company.timezone
    args, shown, errors = local_period(request.args, zone)
    try:
        filters = audit.parse_filters(args)
    except InputError as exc:
        errors = {**exc.fields, **errors}
    events, cursor = [], None
    if not errors:
        page = audit.page(current_user.company_id, filters)
        events, cursor = page.items, page.next_cursor
    args.pop("cursor", None)
    return render_template("admin/audit.html", events=events, cursor=cursor, args=args,
                           shown=shown, zone=zone, errors=errors), status(errors)


@bp.get("/audit.csv")
@require_permission(P.VIEW_AUDIT)
def audit_csv():
    """Every event the filters select (the cursor ignored), as CSV, streamed page by page."""
    args, _, errors = local_period(request.args, current_user.company.timezone)
    if errors:
        abort(422, description="; ".join(errors.values()))
    filters = for_export(lambda _: audit.parse_filters(args))
    company_id = current_user.company_id
    pages = lists.every_page(lambda q: audit.page(
        company_id, replace(filters, cursor=q["cursor"]), q["limit"]), {})

    def rows():
        for page in pages:
            for event in page:
                data = audit.as_dict(event)
                data["details"] = json.dumps(data["details"], ensure_ascii=False)
                yield list(data.values())

    return csv_stream("audit.csv", ["id", "at", "actor", "action", "result", "target_type",
                                    "target_id", "target_name", "details", "ip"], rows())


def csv_stream(filename: str, header: list[str], rows) -> Response:
    """The rows as a streamed CSV download, every cell escaped as a report's are (a cell
    starting with = + - @ cannot run as a formula)."""

    def chunks():
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        for n, row in enumerate(rows, 1):
            writer.writerow([escape_cell(v) for v in row])
            if n % 500 == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    return Response(stream_with_context(chunks()), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename={filename}"})
