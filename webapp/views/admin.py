"""Administration: the built-in mail outbox and the audit log."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template
from flask_login import current_user, login_required

from roles import permissions as P
from roles.access import require_permission

from ..extensions import db
from ..models import AuditEvent, OutboxMessage
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
def audit():
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.company_id == current_user.company_id)
        .order_by(AuditEvent.id.desc()).limit(500)).all()
    return render_template("admin/audit.html", events=events)
