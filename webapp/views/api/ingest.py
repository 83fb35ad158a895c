"""POST /api/v1/ingest/{kind}: NDJSON, streamed line by line."""

from __future__ import annotations

import io

from flask import jsonify, request
from flask_login import current_user

from roles import permissions as P
from roles.access import require_permission

from ...services.ingest import KINDS, ingest
from .blueprint import bp
from .errors import error_response


@bp.post("/ingest/<kind>")
@require_permission(P.INGEST_DATA)
def ingest_records(kind: str):
    """Ingest communications data: one JSON record a line, upserted by its id.
    ---
    post:
      summary: Ingest NDJSON records
      parameters:
        - {name: kind, in: path, required: true, schema: {type: string, enum: [org-units, users, accounts, rooms, messages, violations, irregularities, export-emails]}}
      requestBody:
        required: true
        content: {application/x-ndjson: {schema: {type: string}}}
      responses:
        200: {description: Counts and the rejected lines, content: {application/json: {schema: IngestResult}}}
        404: {description: Unknown kind, content: {application/json: {schema: Error}}}
    """
    if kind not in KINDS:
        return error_response(404, "unknown_kind",
                              f"Kind must be one of {', '.join(KINDS)}.")
    result = ingest(current_user.company_id, kind, io.BufferedReader(request.stream, 1 << 16))
    return jsonify(result.as_dict())
