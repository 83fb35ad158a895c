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
from ...services import roles as role_service
from ...services.errors import InputError
from ...tenancy import get_for_company_or_404
from .blueprint import bp
from .errors import error_response, invalid


def role_json(role: Role) -> dict:
    return {"id": role.id, "name": role.name, "description": role.description,
            "builtin": role.builtin, "permissions": sorted(role.permissions or ()),
            "holders": len(role_service.holders(role))}


def user_json(user: User, blocker: str | None = None) -> dict:
    return {"id": user.id, "email": user.email, "name": user.name, "is_group": user.is_group,
            "active": user.active,
            "roles": [{"role_id": a.role_id, "role": a.role.name, "source": a.source}
                      for a in sorted(user.assignments, key=lambda a: (a.role.name, a.source))],
            "download_blocker": blocker}


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
    return jsonify([{"key": p.key, "label": p.label, "group": p.group, "type": p.type}
                    for p in P.CATALOG])


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
    return jsonify([role_json(r) for r in role_service.roles_of(current_user.company_id)])


@bp.post("/roles")
@require_permission(P.MANAGE_USERS)
def create_role():
    """Create a custom role.
    ---
    post:
      summary: Create a role
      requestBody: {required: true, content: {application/json: {schema: RoleInput}}}
      responses:
        201: {description: The role, content: {application/json: {schema: Role}}}
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
    return jsonify(role_json(role)), 201


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
    return jsonify(role_json(get_for_company_or_404(Role, role_id)))


@bp.patch("/roles/<int:role_id>")
@require_permission(P.MANAGE_USERS)
def edit_role(role_id: int):
    """Edit a custom role: the fields given replace the role's.
    ---
    patch:
      summary: Edit a role
      parameters: [{name: role_id, in: path, required: true, schema: {type: integer}}]
      requestBody: {required: true, content: {application/json: {schema: RoleInput}}}
      responses:
        200: {description: The role, content: {application/json: {schema: Role}}}
        409: {description: A built-in role, or nobody would be left to manage users, content: {application/json: {schema: Error}}}
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
    return jsonify(role_json(role))


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
        409: {description: A built-in role, or nobody would be left to manage users, content: {application/json: {schema: Error}}}
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
    return jsonify([user_json(u, blockers.get(u.email)) for u in users])


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
    return jsonify(user_json(user, download_blockers(user.company_id, [user.email])
                             .get(user.email)))


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
        422: {description: Unknown role, or a group email, content: {application/json: {schema: Error}}}
    """
    user = get_for_company_or_404(User, user_id)
    payload = request.get_json(silent=True)
    role = _role_from(payload)
    if role is None:
        return invalid(InputError({"role": "Give role_id (an id) or role (a name) of a role "
                                            "of your company."}))
    try:
        role_service.assign(user, role, permissions_of(current_user))
    except InputError as exc:
        db.session.rollback()
        return invalid(exc)
    db.session.commit()
    return jsonify(user_json(user))


def _role_from(payload) -> Role | None:
    if not isinstance(payload, dict):
        return None
    query = sa.select(Role).where(Role.company_id == current_user.company_id)
    if isinstance(payload.get("role_id"), int) and not isinstance(payload["role_id"], bool):
        return db.session.scalar(query.where(Role.id == payload["role_id"]))
    if isinstance(payload.get("role"), str):
        return db.session.scalar(query.where(Role.name == payload["role"].strip()))
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
        422: {description: No manual assignment, content: {application/json: {schema: Error}}}
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
