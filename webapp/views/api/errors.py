"""The API's error format: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

from flask import jsonify

from roles.permissions import BY_KEY

from ...schemas.misc import ErrorSchema
from ...services.errors import Conflict, Missing


def error_response(status: int, code: str, message: str, fields: dict | None = None,
                   **extra):
    error = {"code": code, "message": message, **extra}
    if fields:
        error["fields"] = fields
    return jsonify(ErrorSchema().dump({"error": error})), status


def forbidden(permission: str):
    """403 naming the permission that is missing."""
    return error_response(403, "forbidden", f"You need the permission “{BY_KEY[permission].label}”.")


def invalid(exc, status: int = 422):
    """422 with a message per field of an InputError; 409 when the records' state refuses it
    (Conflict), 404 when what it takes away is not there (Missing)."""
    if isinstance(exc, Conflict):
        status = 409
    elif isinstance(exc, Missing):
        status = 404
    return error_response(status, "invalid", "Some fields are not valid.", exc.fields)
