"""The API's error format: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

from flask import jsonify


def error_response(status: int, code: str, message: str, fields: dict | None = None):
    body = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status
