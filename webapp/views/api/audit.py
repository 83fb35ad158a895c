"""GET /api/v1/audit: the company's audit trail, newest first, filtered, keyset-paged."""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user

from roles import permissions as P
from roles.access import require_permission

from ...schemas.fast import dumper
from ...schemas.lists import AuditPageSchema
from ...services import audit
from .blueprint import bp

AUDIT_PAGE = AuditPageSchema()  # built once: building a schema costs more than a page's dump
AUDIT_PAGE_DUMP = dumper(AUDIT_PAGE)  # the same dictionary, faster (schemas/fast.py)


@bp.get("/audit")
@require_permission(P.VIEW_AUDIT)
def list_audit():
    """The audit trail: who did what to which target, from where, newest first.
    ---
    get:
      summary: List audit events
      parameters:
        - {name: action, in: query, required: false, schema: {type: string}, description: "An action (task.update) or a family of them (task)"}
        - {name: actor, in: query, required: false, schema: {type: string}, description: "The actor's email, or system"}
        - {name: since, in: query, required: false, schema: {type: string, format: date-time, pattern: "^(19[7-9][0-9]|[2-8][0-9]{3}|9000)-"}}
        - {name: until, in: query, required: false, schema: {type: string, format: date-time, pattern: "^(19[7-9][0-9]|[2-8][0-9]{3}|9000)-"}}
        - {name: cursor, in: query, required: false, schema: {type: string, pattern: "^[0-9]{1,9}$"}, description: next_cursor of the previous page}
      responses:
        200:
          description: One page of events and the cursor of the next (null at the end)
          content:
            application/json:
              schema: AuditPage
        422: {description: Invalid filters, content: {application/json: {schema: Error}}}
    """
    page = audit.page(current_user.company_id, audit.parse_filters(request.args))  # bad: 422
    return jsonify(AUDIT_PAGE_DUMP({"events": page.items, "next_cursor": page.next_cursor}))
