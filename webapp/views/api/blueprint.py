"""The API blueprint, /api/v1: authentication for every route."""

from __future__ import annotations

from flask import Blueprint, request
from flask_login import current_user

from ...extensions import csrf
from .errors import error_response

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer-token clients; session clients are checked in _authenticate

PUBLIC_ENDPOINTS = {"api.openapi"}


@bp.before_request
def _authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return error_response(401, "unauthorized", "Log in, or send Authorization: Bearer "
                                                   "TOKEN (flask --app app users token).")
    uses_session = not request.headers.get("Authorization", "").startswith("Bearer ")
    if uses_session and request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()  # a browser session must prove the request came from our pages
    return None

