"""Forgot password, and setting a password through an emailed link (invitation or reset).

The answer to "forgot password" is the same whether the address exists or not; the link's
page only changes anything on POST (mail scanners that open links use none of them).
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..extensions import db, limiter
from ..models.users import email_key
from ..services import accounts, sessions
from ..services.errors import InputError
from ..services.people import normalise_email

bp = Blueprint("passwords", __name__, url_prefix="/password")

SENT = ("If an account with that address exists, we have emailed it a link to set a new "
        "password. The link works once and expires in {hours} hours.")


def _address_key() -> str:
    return "reset:" + email_key(request.form.get("email", ""))[:254]


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"], scope="password-reset-address",
               error_message="Too many requests from your address; wait a minute and try "
               "again.")
@limiter.limit("5 per hour", methods=["POST"], key_func=_address_key,
               scope="password-reset-account", error_message="Too many reset requests for "
               "this address; try again later.")
def forgot():
    errors, email, company = {}, request.form.get("email", ""), request.form.get("company", "")
    if request.method == "POST":
        try:
            address = normalise_email(email)
        except InputError as exc:
            errors = exc.fields
        else:
            accounts.request_reset(address, company or None)
            db.session.commit()
            flash(SENT.format(hours=current_app.config["INVITE_TTL_HOURS"]))
            return redirect(url_for("passwords.forgot"))
    return render_template("auth/forgot.html", errors=errors, email=email,
                           company=company), (422 if errors else 200)


@bp.route("/<token>", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"], scope="password-link")
def set_password(token: str):
    try:
        user, purpose = accounts.user_of_link(token, lock=request.method == "POST")
    except accounts.LinkInvalid as exc:
        return render_template("auth/set_password.html", invalid=str(exc), user=None,
                               errors={}), 410
    errors = {}
    if request.method == "POST":
        try:
            accounts.check_password(request.form.get("password", ""),
                                    request.form.get("confirm", ""))
            accounts.set_password(user, request.form["password"], via=purpose)
        except InputError as exc:
            db.session.rollback()
            errors = exc.fields
        else:
            db.session.commit()
            if current_user.is_authenticated:  # this browser's login ends too, server-side
                sessions.end()
            flash("Your password is set. Log in with it now.")
            return redirect(url_for("auth.login", email=user.email,
                                    company=user.company.slug))
    return render_template("auth/set_password.html", invalid=None, user=user, purpose=purpose,
                           errors=errors), (422 if errors else 200)
