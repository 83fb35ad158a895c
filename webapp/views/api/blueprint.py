"""The API blueprint, /api/v1: authentication for every route."""

from __future__ import annotations

from flask import Blueprint, g, request
from flask_login import current_user

from ...extensions import csrf, db
from ...services import tokens
from ...services.errors import InputError
from .errors import error_response, invalid

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
    token = g.get("api_token")
    if token is None and request.method not in ("GET", "HEAD", "OPTIONS"):
        # Logged in by the session cookie (any Authorization header that is not a live token
        # changes nothing): a browser session must prove the request came from our pages.
        csrf.protect()
    refused = tokens.refusal(token, request.method, request.endpoint) if token else None
    if refused:
        return error_response(403, "forbidden", refused)
    return None



@bp.errorhandler(InputError)
def _invalid(exc: InputError):
    """Bad input a route did not catch itself (a body that is no JSON object…): 422, never
    500; nothing it began is kept."""
    db.session.rollback()
    return invalid(exc)
