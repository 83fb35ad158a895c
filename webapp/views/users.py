"""People management: create, invite, deactivate and reactivate users, unlink their single
sign-on, revoke their tokens (the list and a user's roles are views/roles.py)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from roles import permissions as P
from roles.access import permissions_of, require_permission

from ..extensions import db
from ..models import User
from ..models.users import email_key
from ..services import accounts, tokens
from ..services.errors import InputError
from ..tenancy import current_company, get_for_company_or_404
from . import drafts

bp = Blueprint("users", __name__, url_prefix="/admin/users")


@bp.before_request
@login_required
def _login():
    return None


@bp.route("/new", methods=["GET", "POST"])
@require_permission(P.MANAGE_USERS)
def create():
    values = {"email": "", "name": "", "is_group": False, "invite": True}
    errors = {}
    draft = drafts.restore()  # sent after the session expired: what was typed comes back
    if draft is not None:
        values = _typed(draft)
    if request.method == "POST":
        values = _typed(request.form)
        if len(values["name"]) > 200:
            errors["name"] = "Name must have at most 200 characters."
        try:
            if errors:
                raise InputError(errors)
            user = accounts.create(current_company(), values, permissions_of(current_user))
        except InputError as exc:
            db.session.rollback()
            errors = exc.fields
        else:
            db.session.commit()
            flash(f"{user.email} created" + (" and invited: they have an email with a link to "
                                              "set their password." if values["invite"] and
                                              not user.is_group else "."))
            return redirect(url_for("roles.user", user_id=user.id))
    return render_template("users/new.html", values=values, errors=errors), \
        (422 if errors else 200)


def _typed(form) -> dict:
    return {"email": form.get("email", ""), "name": form.get("name", ""),
            "is_group": bool(form.get("is_group")), "invite": bool(form.get("invite"))}


@bp.post("/<int:user_id>/invite")
@require_permission(P.MANAGE_USERS)
def invite(user_id: int):
    target = get_for_company_or_404(User, user_id)
    try:
        accounts.invite(target)
    except InputError as exc:
        db.session.rollback()
        flash(next(iter(exc.fields.values())), "error")
    else:
        db.session.commit()
        flash(f"Invitation sent to {target.email}: the link works once, for "
              f"{_hours()} hours.")
    return redirect(url_for("roles.user", user_id=target.id))


@bp.post("/invite")
@require_permission(P.MANAGE_USERS)
def invite_recipient():
    """Invite a recipient from the task form (an htmx fragment replacing its flag)."""
    address = request.form.get("email", "")
    target = db.session.scalar(sa.select(User).where(
        User.company_id == current_user.company_id, User.email_key == email_key(address)))
    if target is None:
        return render_template("users/invited.html", error=f"{address} is not a user."), 404
    try:
        accounts.invite(target)
    except InputError as exc:
        db.session.rollback()
        return render_template("users/invited.html", error=next(iter(exc.fields.values()))), 422
    db.session.commit()
    return render_template("users/invited.html", error=None, target=target, hours=_hours())


@bp.post("/<int:user_id>/deactivate")
@require_permission(P.MANAGE_USERS)
def deactivate(user_id: int):
    return _set_active(user_id, False)


@bp.post("/<int:user_id>/reactivate")
@require_permission(P.MANAGE_USERS)
def reactivate(user_id: int):
    return _set_active(user_id, True)


def _set_active(user_id: int, active: bool):
    target = get_for_company_or_404(User, user_id)
    try:
        accounts.set_active(target, active, current_user._get_current_object())
    except InputError as exc:
        db.session.rollback()
        flash(next(iter(exc.fields.values())), "error")
    else:
        db.session.commit()
        flash(f"{target.email} is {'active again' if active else 'deactivated'}" +
              ("." if active else ": they can no longer log in nor use API tokens."))
    return redirect(url_for("roles.user", user_id=target.id))


@bp.post("/<int:user_id>/sso/unlink")
@require_permission(P.MANAGE_USERS)
def unlink_sso(user_id: int):
    """Unlink the user's single sign-on identity: their next SSO login binds afresh."""
    target = get_for_company_or_404(User, user_id)
    try:
        identity = accounts.unlink_sso(target, permissions_of(current_user))
    except InputError as exc:
        db.session.rollback()
        flash(exc.fields["sso"], "error")
    else:
        db.session.commit()
        flash(f"{target.email} is no longer linked to single sign-on ({identity.issuer}): "
              "their next single sign-on login links the identity it comes with. Roles given "
              "by SSO stay until that login updates them.")
    return redirect(url_for("roles.user", user_id=target.id))


@bp.post("/<int:user_id>/tokens/<int:token_id>/revoke")
@require_permission(P.MANAGE_USERS)
def revoke_token(user_id: int, token_id: int):
    """Revoke one of a user's API tokens (a leaked one, or one its owner forgot): it stops
    working at once. Only the company's users' tokens are found."""
    target = get_for_company_or_404(User, user_id)
    token = tokens.revocable(current_user, token_id, manages_users=True)
    if token is None or token.user_id != target.id:
        abort(404)
    tokens.revoke(token)
    db.session.commit()
    flash(f"{target.email}'s token “{token.name}” revoked: it no longer works.")
    return redirect(url_for("roles.user", user_id=target.id))


def _hours() -> int:
    return current_app.config["INVITE_TTL_HOURS"]
