"""POST /api/v1/ingest/{kind}: NDJSON, streamed line by line."""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user

from roles import permissions as P
from roles.access import require_permission

from ...services.ingest import KINDS, IngestResult, ingest
from ...services.ndjson import BodyTooLarge, ndjson_lines
from .blueprint import bp
from .errors import error_response


@bp.post("/ingest/<kind>")
@require_permission(P.INGEST_DATA)
def ingest_records(kind: str):
    """Ingest communications data: one JSON record a line, upserted by its id.
    ---
    post:
      summary: Ingest NDJSON records
      description: The body is read as it arrives (Content-Length or chunked) and committed
        in batches. A body over MAX_INGEST_BYTES is refused with 413; when that is only found
        out while reading (chunked), the 413 counts the batches committed before.
      parameters:
        - {name: kind, in: path, required: true, schema: {type: string, enum: [org-units, users, accounts, rooms, messages, violations, irregularities, export-emails]}}
      requestBody:
        required: true
        content: {application/x-ndjson: {schema: {type: string}}}
      responses:
        200: {description: Counts and the rejected lines, content: {application/json: {schema: IngestResult}}}
        404: {description: Unknown kind, content: {application/json: {schema: Error}}}
        413: {description: "Body over MAX_INGEST_BYTES, with what was committed before", content: {application/json: {schema: IngestTooLarge}}}
    """
    if kind not in KINDS:
        return error_response(404, "unknown_kind",
                              f"Kind must be one of {', '.join(KINDS)}.")
    limit = current_app.config["MAX_INGEST_BYTES"]
    if (request.content_length or 0) > limit:
        return _too_large(limit, IngestResult())
    # Gunicorn's input (both Content-Length and chunked) is not an io object: only read(n)
    # is common to every WSGI server's stream, so the lines are split here.
    result = IngestResult()
    try:
        ingest(current_user.company_id, kind, ndjson_lines(request.stream.read, limit), result)
    except BodyTooLarge:
        return _too_large(limit, result)
    return jsonify(result.as_dict())


def _too_large(limit: int, result: IngestResult):
    done = result.committed_through
    kept = (f"Lines 1–{done} were committed (counts below); send the rest from line {done + 1}."
            if done else "Nothing was kept.")
    body = {"error": {"code": "too_large",
                      "message": f"The body is over {limit} bytes (MAX_INGEST_BYTES). {kept} "
                                 "Split the data into several requests."},
            **result.committed_dict()}
    return jsonify(body), 413
