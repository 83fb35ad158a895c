"""The user's own API tokens: list, create (its text shown once), revoke; an administrator
revokes any of the company's."""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user

from roles import permissions as P
from roles.access import can

from ...extensions import db
from ...schemas.tokens import TokenCreatedSchema, TokenSchema
from ...services import tokens
from ...services.errors import InputError
from .blueprint import bp
from .errors import error_response, invalid


@bp.get("/tokens")
def list_tokens():
    """Your API tokens (their text is never shown again after creation).
    ---
    get:
      summary: List your API tokens
      responses:
        200: {description: "Your tokens, newest first", content: {application/json: {schema: {type: array, items: Token}}}}
    """
    return jsonify(TokenSchema(many=True).dump(tokens.of_user(current_user)))


@bp.post("/tokens")
def create_token():
    """Make an API token for yourself; the answer holds its text, this once.
    ---
    post:
      summary: Create an API token
      description: "Scopes: read (GET only), ingest (reading and POST /ingest/{kind}), admin (everything your permissions allow). A token's requests never go beyond its user's permissions."
      requestBody: {required: true, content: {application/json: {schema: Token}}}
      responses:
        201: {description: The token with its text, content: {application/json: {schema: TokenCreated}}}
        422: {description: Invalid fields, content: {application/json: {schema: Error}}}
    """
    try:
        token, plain = tokens.create(current_user, request.get_json(silent=True))
    except InputError as exc:
        db.session.rollback()
        return invalid(exc)
    db.session.commit()
    body = TokenCreatedSchema().dump(token)
    body["token"] = plain
    return jsonify(body), 201


@bp.delete("/tokens/<int:token_id>")
def revoke_token(token_id: int):
    """Revoke one of your tokens, or, with "Manage users and roles", any token of your
    company's users (its id is in the token.create audit event): it stops working at once.
    ---
    delete:
      summary: Revoke an API token
      parameters: [{name: token_id, in: path, required: true, schema: {type: integer}}]
      responses:
        204: {description: Revoked}
    """
    token = tokens.revocable(current_user, token_id, can(P.MANAGE_USERS))
    if token is None:
        return error_response(404, "not_found", "There is no token with this id that you "
                              "may revoke.")
    tokens.revoke(token)
    db.session.commit()
    return "", 204
