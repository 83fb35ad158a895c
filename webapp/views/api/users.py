"""Creating, inviting, deactivating and reactivating users, unlinking their single sign-on
(reading them: api/roles.py)."""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user

from roles import permissions as P
from roles.access import permissions_of, require_permission
from roles.viewer import download_blockers

from ...extensions import db
from ...models import Company, User
from ...schemas.people import UserSchema
from ...schemas.users import InvitationSchema, UserInputSchema, UserPatchSchema
from ...services import accounts, audit
from ...services.errors import InputError, load
from ...tenancy import get_for_company_or_404
from .blueprint import bp
from .errors import error_response, invalid


def _dump(user: User):
    return UserSchema(blockers=download_blockers(user.company_id, [user.email])).dump(user)


@bp.post("/users")
@require_permission(P.MANAGE_USERS)
def create_user():
    """Create a user or group email; ``"invite": true`` emails a one-time link to set a
    password (it expires after INVITE_TTL_HOURS).
    ---
    post:
      summary: Create (and invite) a user
      requestBody: {required: true, content: {application/json: {schema: UserInput}}}
      responses:
        201: {description: The user, content: {application/json: {schema: User}}}
        409: {description: A user with this email already exists, content: {application/json: {schema: Error}}}
        422: {description: "Invalid fields, a role you do not hold", content: {application/json: {schema: Error}}}
    """
    data, errors = load(UserInputSchema(), request.get_json(silent=True))
    if errors:
        return invalid(InputError(errors))
    company = db.session.get(Company, current_user.company_id)
    try:
        user = accounts.create(company, data, permissions_of(current_user))
    except InputError as exc:
        db.session.rollback()
        return invalid(exc)
    db.session.commit()
    return jsonify(_dump(user)), 201


@bp.patch("/users/<int:user_id>")
@require_permission(P.MANAGE_USERS)
def edit_user(user_id: int):
    """Deactivate (``"active": false``: no login, no API token; their portal logins end) or
    reactivate a user, or rename them. Nobody deactivates themselves, nor the last user who
    can manage users.
    ---
    patch:
      summary: Deactivate, reactivate or rename a user
      parameters: [{name: user_id, in: path, required: true, schema: {type: integer}}]
      requestBody: {required: true, content: {application/json: {schema: UserPatch}}}
      responses:
        200: {description: The user, content: {application/json: {schema: User}}}
        404: {description: No such user in your company, content: {application/json: {schema: Error}}}
        409: {description: "Yourself, or the last user who can manage users and roles", content: {application/json: {schema: Error}}}
        422: {description: Invalid fields, content: {application/json: {schema: Error}}}
    """
    user = get_for_company_or_404(User, user_id)
    data, errors = load(UserPatchSchema(), request.get_json(silent=True))
    if errors:
        return invalid(InputError(errors))
    if "name" in data:
        user.name = data["name"]
    if "active" in data:
        try:
            accounts.set_active(user, data["active"], current_user._get_current_object())
        except InputError as exc:
            db.session.rollback()
            return error_response(409, "lockout", exc.fields["active"])
    if "name" in data:
        audit.record("user.update", user, details={"name": data["name"]})
    db.session.commit()
    return jsonify(_dump(user))


@bp.post("/users/<int:user_id>/invite")
@require_permission(P.MANAGE_USERS)
def invite_user(user_id: int):
    """Email the user a one-time link to set a password (again); older links stop working.
    ---
    post:
      summary: Invite a user
      parameters: [{name: user_id, in: path, required: true, schema: {type: integer}}]
      responses:
        202: {description: The invitation is sent, content: {application/json: {schema: Invitation}}}
        404: {description: No such user in your company, content: {application/json: {schema: Error}}}
        409: {description: A group email or a deactivated user, content: {application/json: {schema: Error}}}
    """
    user = get_for_company_or_404(User, user_id)
    try:
        accounts.invite(user)
    except InputError as exc:
        db.session.rollback()
        return invalid(exc)
    db.session.commit()
    return jsonify(InvitationSchema().dump({
        "email": user.email, "invited_at": user.invited_at,
        "expires_in_hours": current_app.config["INVITE_TTL_HOURS"]})), 202


@bp.delete("/users/<int:user_id>/sso")
@require_permission(P.MANAGE_USERS)
def unlink_sso(user_id: int):
    """Unlink the user's single sign-on identity (a new identity provider, an account
    recreated there): their next SSO login binds the identity it comes with. Roles given by
    SSO stay until that login updates them; every portal login of the user ends. Audited as
    ``user.sso_unlink`` with the issuer and how many logins ended.
    ---
    delete:
      summary: Unlink a user's single sign-on identity
      parameters: [{name: user_id, in: path, required: true, schema: {type: integer}}]
      responses:
        204: {description: Unlinked}
        403: {description: The user holds permissions you do not hold, content: {application/json: {schema: Error}}}
        404: {description: "No such user in your company, or not linked to single sign-on", content: {application/json: {schema: Error}}}
    """
    user = get_for_company_or_404(User, user_id)
    try:
        accounts.unlink_sso(user, permissions_of(current_user))
    except accounts.NotHeld as exc:
        db.session.rollback()
        return error_response(403, "not_held", exc.fields["sso"])
    except InputError as exc:
        db.session.rollback()
        return error_response(404, "not_found", exc.fields["sso"])
    db.session.commit()
    return "", 204
