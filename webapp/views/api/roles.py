"""The permission catalog, custom roles and role assignments."""

from __future__ import annotations

import sqlalchemy as sa
from flask import jsonify, request
from flask_login import current_user

from roles import permissions as P
from roles.access import permissions_of, require_permission
from roles.viewer import download_blockers

from ...extensions import db
from ...models import Role, User
from ...schemas.people import AssignmentInputSchema, PermissionSchema, RoleSchema, UserSchema
from ...services import roles as role_service
from ...services.errors import InputError, load
from ...tenancy import get_for_company_or_404
from .blueprint import bp
from .errors import error_response, invalid


@bp.get("/permissions")
@require_permission(P.MANAGE_USERS)
def list_permissions():
    """The permission catalog.
    ---
    get:
      summary: List the permissions
      responses:
        200: {description: Every permission, content: {application/json: {schema: {type: array, items: Permission}}}}
    """
    return jsonify(PermissionSchema(many=True).dump(P.CATALOG))


@bp.get("/roles")
@require_permission(P.MANAGE_USERS)
def list_roles():
    """The company's roles, built-in first.
    ---
    get:
      summary: List roles
      responses:
        200: {description: The roles, content: {application/json: {schema: {type: array, items: Role}}}}
    """
    return jsonify(RoleSchema(many=True).dump(role_service.roles_of(current_user.company_id)))


@bp.post("/roles")
@require_permission(P.MANAGE_USERS)
def create_role():
    """Create a custom role.
    ---
    post:
      summary: Create a role
      requestBody: {required: true, content: {application/json: {schema: Role}}}
      responses:
        201: {description: The role, content: {application/json: {schema: Role}}}
        409: {description: A role with this name already exists, content: {application/json: {schema: Error}}}
        422: {description: Invalid fields, content: {application/json: {schema: Error}}}
    """
    try:
        data = role_service.validate(current_user.company_id, request.get_json(silent=True),
                                     permissions_of(current_user))
        role = role_service.save(current_user.company_id, data)
    except InputError as exc:
        db.session.rollback()
        return invalid(exc)
    db.session.commit()
    return jsonify(RoleSchema().dump(role)), 201


@bp.get("/roles/<int:role_id>")
@require_permission(P.MANAGE_USERS)
def get_role(role_id: int):
    """One role.
    ---
    get:
      summary: Read a role
      parameters: [{name: role_id, in: path, required: true, schema: {type: integer}}]
      responses:
        200: {description: The role, content: {application/json: {schema: Role}}}
        404: {description: No such role in your company, content: {application/json: {schema: Error}}}
    """
    return jsonify(RoleSchema().dump(get_for_company_or_404(Role, role_id)))


@bp.patch("/roles/<int:role_id>")
@require_permission(P.MANAGE_USERS)
def edit_role(role_id: int):
    """Edit a custom role: the fields given replace the role's.
    ---
    patch:
      summary: Edit a role
      parameters: [{name: role_id, in: path, required: true, schema: {type: integer}}]
      requestBody: {required: true, content: {application/json: {schema: Role}}}
      responses:
        200: {description: The role, content: {application/json: {schema: Role}}}
        409: {description: "A built-in role, a name already taken, or nobody would be left to manage users", content: {application/json: {schema: Error}}}
        422: {description: Invalid fields, content: {application/json: {schema: Error}}}
    """
    role = get_for_company_or_404(Role, role_id)
    if role.builtin:
        return error_response(409, "builtin_role", f"“{role.name}” is a built-in role; it "
                                                   "cannot be changed.")
    try:
        data = role_service.validate(current_user.company_id, request.get_json(silent=True),
                                     permissions_of(current_user), role)
        role = role_service.save(current_user.company_id, data, role)
    except InputError as exc:
        db.session.rollback()
        return invalid(exc)
    except role_service.RoleConflict as exc:
        db.session.rollback()
        return conflict(exc)
    db.session.commit()
    return jsonify(RoleSchema().dump(role))


@bp.delete("/roles/<int:role_id>")
@require_permission(P.MANAGE_USERS)
def delete_role(role_id: int):
    """Delete a custom role (its assignments go with it).
    ---
    delete:
      summary: Delete a role
      parameters: [{name: role_id, in: path, required: true, schema: {type: integer}}]
      responses:
        204: {description: Deleted}
        403: {description: The role carries permissions you do not hold, content: {application/json: {schema: Error}}}
        409: {description: "A built-in role, or nobody would be left to manage users", content: {application/json: {schema: Error}}}
    """
    role = get_for_company_or_404(Role, role_id)
    try:
        role_service.delete(role, permissions_of(current_user))
    except role_service.RoleConflict as exc:
        db.session.rollback()
        return conflict(exc)
    db.session.commit()
    return "", 204


@bp.get("/users")
@require_permission(P.MANAGE_USERS)
def list_users():
    """The company's users and group emails, with their roles and where each came from.
    ---
    get:
      summary: List users
      responses:
        200: {description: The users, content: {application/json: {schema: {type: array, items: User}}}}
    """
    users = role_service.users_of(current_user.company_id)
    blockers = download_blockers(current_user.company_id, [u.email for u in users])
    return jsonify(UserSchema(many=True, blockers=blockers).dump(users))


@bp.get("/users/<int:user_id>")
@require_permission(P.MANAGE_USERS)
def get_user(user_id: int):
    """One user with their roles.
    ---
    get:
      summary: Read a user
      parameters: [{name: user_id, in: path, required: true, schema: {type: integer}}]
      responses:
        200: {description: The user, content: {application/json: {schema: User}}}
        404: {description: No such user in your company, content: {application/json: {schema: Error}}}
    """
    user = get_for_company_or_404(User, user_id)
    return jsonify(UserSchema(blockers=download_blockers(user.company_id, [user.email]))
                   .dump(user))


@bp.post("/users/<int:user_id>/roles")
@require_permission(P.MANAGE_USERS)
def assign_role(user_id: int):
    """Give a user a role (a manual assignment): ``{"role_id": 3}`` or ``{"role": "name"}``.
    ---
    post:
      summary: Give a role
      parameters: [{name: user_id, in: path, required: true, schema: {type: integer}}]
      requestBody: {required: true, content: {application/json: {schema: AssignmentInput}}}
      responses:
        200: {description: The user, content: {application/json: {schema: User}}}
        409: {description: A group email holds no role, content: {application/json: {schema: Error}}}
        422: {description: Unknown role, content: {application/json: {schema: Error}}}
    """
    user = get_for_company_or_404(User, user_id)
    try:
        role = _role_from(request.get_json(silent=True))
    except InputError:  # not an object
        role = None
    if role is None:
        return invalid(InputError({"role": "Give role_id (an id) or role (a name) of a role "
                                            "of your company."}))
    try:
        role_service.assign(user, role, permissions_of(current_user))
    except InputError as exc:
        db.session.rollback()
        return invalid(exc)
    db.session.commit()
    return jsonify(UserSchema().dump(user))


def _role_from(payload) -> Role | None:
    """The role named by ``{"role_id": 3}`` or ``{"role": "name"}``, if the company has it."""
    data, errors = load(AssignmentInputSchema(), payload)
    query = sa.select(Role).where(Role.company_id == current_user.company_id)
    if errors:
        return None
    if "role_id" in data:
        return db.session.scalar(query.where(Role.id == data["role_id"]))
    if "role" in data:
        return db.session.scalar(query.where(Role.name == data["role"]))
    return None


@bp.delete("/users/<int:user_id>/roles/<int:role_id>")
@require_permission(P.MANAGE_USERS)
def unassign_role(user_id: int, role_id: int):
    """Remove a manual assignment (automatic ones follow the tasks and SSO).
    ---
    delete:
      summary: Take a role back
      parameters:
        - {name: user_id, in: path, required: true, schema: {type: integer}}
        - {name: role_id, in: path, required: true, schema: {type: integer}}
      responses:
        204: {description: Removed}
        403: {description: The role carries permissions you do not hold, content: {application/json: {schema: Error}}}
        409: {description: Nobody would be left to manage users and roles, content: {application/json: {schema: Error}}}
        404: {description: "No such user or role, or no manual assignment of it", content: {application/json: {schema: Error}}}
    """
    user = get_for_company_or_404(User, user_id)
    role = get_for_company_or_404(Role, role_id)
    try:
        role_service.unassign(user, role, permissions_of(current_user))
    except InputError as exc:
        db.session.rollback()
        return invalid(exc)
    except role_service.RoleConflict as exc:
        db.session.rollback()
        return conflict(exc)
    db.session.commit()
    return "", 204


def conflict(exc: role_service.RoleConflict):
    """403 for a role holding what the caller does not hold; 409 for the other refusals."""
    return error_response(403 if exc.code == "not_held" else 409, exc.code, str(exc))
