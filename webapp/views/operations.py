"""For operators and their probes, without a login: /readyz and /metrics (/healthz is the
app's own, webapp/views/__init__.py)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..services import operations

bp = Blueprint("operations", __name__)


@bp.get("/readyz")
def readyz():
    """200 when the database, Redis and a worker (heartbeat within 60 s) are there; else 503
    naming what is missing."""
    missing = operations.readiness()
    if missing:
        return jsonify(status="unavailable", missing=missing), 503
    return jsonify(status="ready")


@bp.get("/metrics")
def metrics():
    if not operations.metrics_allowed(request.headers.get("Authorization")):
        return Response("METRICS_TOKEN is set: send Authorization: Bearer <token>.\n", 401,
                        {"WWW-Authenticate": 'Bearer realm="metrics"'}, mimetype="text/plain")
    body, content_type = operations.render()
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
