"""The user's own account: API tokens (list, make one — its text shown once —, revoke)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..extensions import db
from ..models.users import TOKEN_SCOPES
from ..services import tokens
from ..services.errors import InputError
from . import drafts

bp = Blueprint("account", __name__, url_prefix="/account")


def _page(values: dict | None = None, errors: dict | None = None, made=None, status=200):
    return render_template("account/tokens.html", tokens=tokens.of_user(current_user),
                           scopes=TOKEN_SCOPES, values=values or {"scope": "read"},
                           errors=errors or {}, made=made), status


@bp.get("/tokens")
@login_required
def token_list():
    draft = drafts.restore()  # sent after the session expired: what was typed comes back
    return _page(_typed(draft) if draft is not None else None)


@bp.post("/tokens")
@login_required
def token_create():
    values = _typed(request.form)
    payload = {"name": values["name"], "scope": values["scope"] or "read"}
    days = values["expires_days"]
    if days:
        if not days.isdigit() or not 1 <= int(days) <= 3650:
            return _page(values, {"expires_days": "Expiry must be a whole number of days from "
                                                  "1 to 3650, or empty for never."}, status=422)
        payload["expires_at"] = (datetime.now(UTC) + timedelta(days=int(days))).isoformat()
    try:
        token, plain = tokens.create(current_user, payload, via="portal")
    except InputError as exc:
        db.session.rollback()
        return _page(values, exc.fields, status=422)
    db.session.commit()
    return _page(made=(token, plain))  # its text on this page only, never again


def _typed(form) -> dict:
    """What the new-token form says: a name, a scope, an expiry (its text is Herald's)."""
    return {k: form.get(k, "").strip() for k in ("name", "scope", "expires_days")}


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def token_revoke(token_id: int):
    token = tokens.revocable(current_user, token_id)
    if token is None:
        abort(404)
    tokens.revoke(token)
    db.session.commit()
    flash(f"Token “{token.name}” revoked: it no longer works.")
    return redirect(url_for("account.token_list"))
