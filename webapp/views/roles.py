"""Administration of roles and role assignments (custom roles, who holds what)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from roles import permissions as P
from roles.access import permissions_of, require_permission
from roles.viewer import download_blockers

from ..extensions import db
from ..models import Role, User
from ..services import accounts, tokens
from ..services import roles as role_service
from ..services import sso as sso_service
from ..services.errors import InputError
from ..tenancy import get_for_company_or_404
from . import drafts

bp = Blueprint("roles", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def _login():
    return None


def catalog_groups() -> dict[str, list[P.Permission]]:
    groups: dict[str, list[P.Permission]] = {}
    for permission in P.CATALOG:
        groups.setdefault(permission.group, []).append(permission)
    return groups


@bp.get("/roles")
@require_permission(P.MANAGE_USERS)
def index():
    roles = role_service.roles_of(current_user.company_id)
    counts = {r.id: len(role_service.holders(r)) for r in roles}
    return render_template("roles/index.html", roles=roles, counts=counts)


@bp.get("/roles/<int:role_id>")
@require_permission(P.MANAGE_USERS)
def show(role_id: int):
    role = get_for_company_or_404(Role, role_id)
    return render_template("roles/show.html", role=role, groups=catalog_groups(),
                           holders=role_service.holders(role))


@bp.route("/roles/new", methods=["GET", "POST"])
@require_permission(P.MANAGE_USERS)
def create():
    return _edit(None)


@bp.route("/roles/<int:role_id>/edit", methods=["GET", "POST"])
@require_permission(P.MANAGE_USERS)
def edit(role_id: int):
    role = get_for_company_or_404(Role, role_id)
    if role.builtin:
        flash(f"“{role.name}” is a built-in role; it cannot be changed. Create a custom role "
              "instead.", "error")
        return redirect(url_for("roles.show", role_id=role.id))
    return _edit(role)


def _edit(role: Role | None):
    values = {"name": role.name if role else "", "description": role.description if role else "",
              "permissions": list(role.permissions) if role else []}
    errors = {}
    draft = drafts.restore()  # sent after the session expired: what was typed comes back
    if draft is not None:
        values = _typed(draft)
    if request.method == "POST":
        values = _typed(request.form)
        try:
            data = role_service.validate(current_user.company_id, values,
                                         permissions_of(current_user), role)
            saved = role_service.save(current_user.company_id, data, role)
        except InputError as exc:
            db.session.rollback()
            errors = exc.fields
        except role_service.RoleConflict as exc:
            db.session.rollback()
            errors = {"permissions": str(exc)}
        else:
            db.session.commit()
            flash(f"Role “{saved.name}” saved.")
            return redirect(url_for("roles.show", role_id=saved.id))
    return render_template("roles/form.html", role=role, values=values, errors=errors,
                           groups=catalog_groups()), (422 if errors else 200)


def _typed(form) -> dict:
    return {"name": form.get("name", ""), "description": form.get("description", ""),
            "permissions": form.getlist("permissions")}


@bp.post("/roles/<int:role_id>/delete")
@require_permission(P.MANAGE_USERS)
def delete(role_id: int):
    role = get_for_company_or_404(Role, role_id)
    try:
        role_service.delete(role, permissions_of(current_user))
    except role_service.RoleConflict as exc:
        flash(str(exc), "error")
        return redirect(url_for("roles.show", role_id=role.id))
    db.session.commit()
    flash(f"Role “{role.name}” deleted.")
    return redirect(url_for("roles.index"))


@bp.get("/users")
@require_permission(P.MANAGE_USERS)
def users():
    users = role_service.users_of(current_user.company_id)
    return render_template("roles/users.html", users=users, logins=accounts.login_states(users))


@bp.get("/users/<int:user_id>")
@require_permission(P.MANAGE_USERS)
def user(user_id: int):
    target = get_for_company_or_404(User, user_id)
    return _render_user(target)


def _render_user(target: User, errors: dict | None = None, status: int = 200):
    held = {a.role_id for a in target.assignments if a.source == "manual"}
    assignable = [r for r in role_service.roles_of(current_user.company_id) if r.id not in held]
    blocker = download_blockers(target.company_id, [target.email]).get(target.email)
    return render_template("roles/user.html", target=target, assignable=assignable,
                           errors=errors or {}, login=accounts.login_state(target),
                           blocker=blocker, api_tokens=tokens.of_user(target),
                           sso_identity=accounts.sso_identity(target),
                           sso_on=sso_service.enabled(target.company_id)), status


@bp.post("/users/<int:user_id>/roles")
@require_permission(P.MANAGE_USERS)
def assign(user_id: int):
    target = get_for_company_or_404(User, user_id)
    if not (request.form.get("role_id") or "").strip():  # nothing chosen: nobody given admin
        return _render_user(target, {"role": "Choose the role to give."}, 422)
    role = get_for_company_or_404(Role, request.form.get("role_id"))
    try:
        role_service.assign(target, role, permissions_of(current_user))
    except InputError as exc:
        db.session.rollback()
        return _render_user(target, exc.fields, 422)
    db.session.commit()
    flash(f"{target.email} now holds “{role.name}”.")
    return redirect(url_for("roles.user", user_id=target.id))


@bp.post("/users/<int:user_id>/roles/<int:role_id>/delete")
@require_permission(P.MANAGE_USERS)
def unassign(user_id: int, role_id: int):
    target = get_for_company_or_404(User, user_id)
    role = get_for_company_or_404(Role, role_id)
    try:
        role_service.unassign(target, role, permissions_of(current_user))
    except (InputError, role_service.RoleConflict) as exc:
        db.session.rollback()
        flash(str(exc.fields["role"]) if isinstance(exc, InputError) else str(exc), "error")
        return redirect(url_for("roles.user", user_id=target.id))
    db.session.commit()
    flash(f"“{role.name}” removed from {target.email}.")
    return redirect(url_for("roles.user", user_id=target.id))
