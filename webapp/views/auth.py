"""Login and logout (password); API bearer tokens."""

from __future__ import annotations

import secrets
from functools import cache
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_url
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length

from roles import permissions as P
from roles.access import can

from ..extensions import db, limiter, login_manager
from ..models import Company, User
from ..models.users import email_key
from ..services import audit, sessions, tokens
from . import drafts

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(user_id: str):
    login = sessions.current()  # ended by logout or a timeout: no user, whatever the cookie
    if login is None or str(login.user_id) != user_id:
        return None
    user = login.user  # loaded with the login, its company and its roles
    return user if user is not None and user.is_active else None


@login_manager.unauthorized_handler
def unauthorized():
    """A page that needs a login, without one: to the login page, and back after it. A form
    sent after its login timed out (its cookie, CSRF token and all, still there) keeps what
    was typed, as one whose CSRF token was refused does (views/drafts.py)."""
    kept = drafts.kept_for_request()
    if kept:
        return drafts.session_expired(kept)
    flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(login_url(login_manager.login_view, next_url=request.url))


@login_manager.request_loader
def load_user_from_token(req):
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    token = tokens.authenticate(header[7:])
    if token is None:
        return None
    g.api_token = token  # what the API checks the scope of, and skips CSRF for
    return token.user


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Email is required."),
                                            Email(message="Email is not a valid address."),
                                            Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Password is required.")])
    company = StringField("Company (slug)", validators=[Length(max=80)])


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after login."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _account_key() -> str:
    return "account:" + email_key(request.form.get("email", ""))[:254]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_ADDRESS_LIMIT"], methods=["POST"],
               scope="login-address", error_message="Too many login attempts from your "
               "address; wait a minute and try again.")
@limiter.limit(lambda: current_app.config["LOGIN_ACCOUNT_LIMIT"], methods=["POST"],
               key_func=_account_key, scope="login-account",
               deduct_when=lambda _response: g.get("login_failed", False),
               error_message="Too many failed logins for this account; try again in a "
               "few minutes.")
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or landing(current_user))
    form = LoginForm()
    if request.method == "GET":  # after setting a password: the address is filled in
        form.email.data = request.args.get("email", "")[:254]
        form.company.data = request.args.get("company", "")[:80]
    ask_company = False
    if form.validate_on_submit():
        query = sa.select(User).join(Company).where(User.email_key == email_key(form.email.data))
        if form.company.data:
            query = query.where(Company.slug == form.company.data.strip().lower())
        candidates = [u for u in db.session.scalars(query) if u.is_active and u.password_hash]
        matches = [u for u in candidates if u.check_password(form.password.data)]
        if not candidates:  # an unknown address costs what a known one does
            check_password_hash(_dummy_hash(), form.password.data)
        if len(matches) == 1:
            audit.record("login.success", matches[0], actor=matches[0],
                         details={"method": "password"})
            db.session.commit()
            sessions.start(matches[0], keep=(drafts.DRAFT,))  # a form sent after expiry
            return redirect(safe_next(request.args.get("next")) or landing(matches[0]))
        g.login_failed = not matches
        for user in candidates if not matches else ():
            audit.record("login.failure", user, actor=form.email.data.strip()[:254],
                         result="refused", details={"method": "password"})
        db.session.commit()
        if len(matches) > 1:
            ask_company = True
            form.company.errors = ["This email has an account in several companies: "
                                   "type the company's slug."]
        else:
            form.password.errors = ["Email or password is not correct."]
    return render_template("auth/login.html", form=form,
                           ask_company=ask_company or bool(form.company.data))


def landing(user) -> str:
    """Where a login goes: the task list for those who may see it, else My reports."""
    return url_for("tasks.index" if can(P.VIEW_TASKS, user) else "my.reports")


@cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


@bp.post("/logout")
@login_required
def logout():
    audit.record("logout", current_user._get_current_object())
    db.session.commit()
    sessions.end()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))
