"""Custom roles and role assignments: one path for the portal and the API.

Built-in roles are defined in code and cannot be changed or deleted. Nobody grants or
takes back a permission they do not hold themselves (giving, editing, deleting and removing a
role alike), a group email never holds a role, and no change leaves a company without anyone
who can manage users and roles.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from roles import permissions as P

from ..extensions import db
from ..models import Role, RoleAssignment, User
from ..schemas.people import RoleSchema
from . import audit
from .errors import NOT_AN_OBJECT, Conflict, InputError, Missing, load


class RoleConflict(RuntimeError):
    """The change is refused as a whole: ``code`` is builtin_role, last_admin or not_held
    (the role carries permissions the person changing it does not hold)."""

    def __init__(self, message: str, code: str = "builtin_role"):
        super().__init__(message)
        self.code = code


@dataclass
class RoleInput:
    name: str
    description: str
    permissions: list[str]


def validate(company_id: int, payload, granted_by: frozenset[str],
             role: Role | None = None) -> RoleInput:
    """A whole role, or with ``role`` a partial edit merged over it, through RoleSchema; then
    a name already taken and permissions the granter does not hold."""
    if not isinstance(payload, dict):
        raise InputError(NOT_AN_OBJECT)
    stored = RoleSchema(only=("name", "description", "permissions")).dump(role) if role else {}
    data, errors = load(RoleSchema(), {**stored, **payload})
    name = data.get("name")
    taken = False
    if name is not None:
        clash = db.session.scalar(sa.select(Role.id).where(
            Role.company_id == company_id, sa.func.lower(Role.name) == name.lower()))
        if clash is not None and (role is None or clash != role.id):
            errors["name"] = f"A role named “{name}” already exists."
            taken = True
    permissions = data.get("permissions")
    if permissions is not None and not set(permissions) <= granted_by:
        missing = sorted(set(permissions) - granted_by)
        errors["permissions"] = ("You can only grant permissions you hold yourself; you do "
                                 f"not hold {', '.join(missing)}.")
    if role is not None and "permissions" not in errors and not held(role, granted_by):
        errors["permissions"] = _not_held(role, granted_by)
    if errors:
        raise (Conflict if taken and list(errors) == ["name"] else InputError)(errors)
    return RoleInput(name=name, description=data["description"] or "",
                     permissions=sorted(set(permissions)))


def save(company_id: int, data: RoleInput, role: Role | None = None) -> Role:
    if role is not None and role.builtin:
        raise RoleConflict(f"“{role.name}” is a built-in role; it cannot be changed.")
    if role is not None and locks_out(company_id, drop_role=role.id,
                                       new_permissions=data.permissions):
        raise RoleConflict(LOCKOUT, "last_admin")
    before = None if role is None else {"name": role.name, "description": role.description,
                                         "permissions": sorted(role.permissions or ())}
    if role is None:
        role = Role(company_id=company_id, builtin=False)
        db.session.add(role)
    role.name, role.description, role.permissions = data.name, data.description, data.permissions
    db.session.flush()
    after = {"name": role.name, "description": role.description,
             "permissions": sorted(role.permissions)}
    audit.record("role.create" if before is None else "role.update", role,
                 details={"fields": after} if before is None else {"changed": {
                     k: {"from": before[k], "to": v} for k, v in after.items()
                     if before[k] != v}})
    return role


def held(role: Role, granted_by: frozenset[str]) -> bool:
    """May someone holding ``granted_by`` give, change or take back this role?"""
    return set(role.permissions or ()) <= granted_by


def _not_held(role: Role, granted_by: frozenset[str]) -> str:
    missing = sorted(set(role.permissions or ()) - granted_by)
    return (f"“{role.name}” carries permissions you do not hold ({', '.join(missing)}): only "
            "someone who holds them all may change, remove or delete it.")


def delete(role: Role, granted_by: frozenset[str]) -> None:
    if role.builtin:
        raise RoleConflict(f"“{role.name}” is a built-in role; it cannot be deleted.")
    if not held(role, granted_by):
        raise RoleConflict(_not_held(role, granted_by), "not_held")
    if locks_out(role.company_id, drop_role=role.id):
        raise RoleConflict(LOCKOUT, "last_admin")
    audit.record("role.delete", role, details={"permissions": sorted(role.permissions or ())})
    db.session.execute(sa.delete(RoleAssignment).where(RoleAssignment.role_id == role.id))
    db.session.delete(role)
    db.session.flush()


def holders(role: Role) -> list[tuple[User, list[str]]]:
    """The users holding a role, each with the sources of the assignment."""
    rows = db.session.execute(sa.select(User, RoleAssignment.source).join(
        RoleAssignment, RoleAssignment.user_id == User.id).where(
        RoleAssignment.role_id == role.id).order_by(User.email_key)).all()
    out: dict[int, tuple[User, list[str]]] = {}
    for user, source in rows:
        out.setdefault(user.id, (user, []))[1].append(source)
    return list(out.values())


def assign(user: User, role: Role, granted_by: frozenset[str]) -> RoleAssignment:
    """A manual assignment (idempotent)."""
    if user.company_id != role.company_id:
        raise InputError({"role": "No such role in this company."})
    if user.is_group:
        raise Conflict({"role": "A group email cannot hold a role."})
    if not held(role, granted_by):
        raise InputError({"role": "You can only give a role whose permissions you hold "
                                  "yourself."})
    existing = db.session.scalar(sa.select(RoleAssignment).where(
        RoleAssignment.user_id == user.id, RoleAssignment.role_id == role.id,
        RoleAssignment.source == "manual"))
    if existing is not None:
        return existing
    assignment = RoleAssignment(user_id=user.id, role_id=role.id, source="manual")
    db.session.add(assignment)
    db.session.flush()
    audit.record("role.assign", user, details={"role": role.name, "role_id": role.id})
    db.session.expire(user, ["assignments"])
    return assignment


def unassign(user: User, role: Role, granted_by: frozenset[str]) -> None:
    """Remove the manual assignment. Recipient assignments follow the tasks, SSO ones follow
    the identity provider at the next login."""
    if user.company_id != role.company_id:
        raise InputError({"role": "No such role in this company."})
    if not held(role, granted_by):
        raise RoleConflict(_not_held(role, granted_by), "not_held")
    assignment = db.session.scalar(sa.select(RoleAssignment).where(
        RoleAssignment.user_id == user.id, RoleAssignment.role_id == role.id,
        RoleAssignment.source == "manual"))
    if assignment is None:
        raise Missing({"role": f"{user.email} has no manual assignment of “{role.name}” "
                                  "(automatic ones come from task recipients or SSO)."})
    if locks_out(user.company_id, drop_assignment=assignment.id):
        raise RoleConflict(LOCKOUT, "last_admin")
    db.session.delete(assignment)
    db.session.flush()
    audit.record("role.unassign", user, details={"role": role.name, "role_id": role.id})
    db.session.expire(user, ["assignments"])


LOCKOUT = ("Nobody would be left to manage users and roles in this company (this is the last "
           "administrator): give that permission to someone else first.")


def locks_out(company_id: int, *, drop_assignment: int | None = None,
              drop_role: int | None = None, new_permissions: list[str] | None = None,
              drop_user: int | None = None) -> bool:
    """Would the change leave no active user holding the permission to manage users?
    (Decided on permissions, not role names: any role that grants it counts.)"""
    def permissions(role: Role):
        if role.id == drop_role:
            return new_permissions or ()  # None: the role is being deleted
        return role.permissions or ()

    roles = db.session.scalars(sa.select(Role).where(Role.company_id == company_id)).all()
    granting = {r.id for r in roles if P.MANAGE_USERS in permissions(r)}
    if not granting:
        return True
    query = sa.select(sa.func.count(RoleAssignment.id)).join(
        User, User.id == RoleAssignment.user_id).where(
        RoleAssignment.role_id.in_(granting), User.active.is_(True), User.is_group.is_(False))
    if drop_assignment is not None:
        query = query.where(RoleAssignment.id != drop_assignment)
    if drop_user is not None:  # being deactivated
        query = query.where(User.id != drop_user)
    return db.session.scalar(query) == 0


def users_of(company_id: int) -> list[User]:
    """The company's users by email, with their roles and single sign-on identities loaded
    in one query each (the lists show them), not one per user."""
    return db.session.scalars(sa.select(User).where(User.company_id == company_id)
                              .options(selectinload(User.assignments),
                                       selectinload(User.sso_identity))
                              .order_by(User.email_key)).all()


def roles_of(company_id: int) -> list[Role]:
    return db.session.scalars(sa.select(Role).where(Role.company_id == company_id)
                              .order_by(Role.builtin.desc(), Role.name)).all()
