"""Single sign-on: login through the company's OpenID Connect provider, and its settings."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import requests
import sqlalchemy as sa
from authlib.integrations.base_client import OAuthError
from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required
from joserfc.errors import JoseError

from roles import permissions as P
from roles import sso
from roles.access import permissions_of, require_permission

from ..extensions import db
from ..htmx import render
from ..models import Company, Role, SsoSettings
from ..models.sso import SYNC_MODES
from ..services import audit, connection_tests, form_secrets, sessions, sso_check
from ..services import sso as sso_service
from ..services.errors import InputError
from . import drafts
from .auth import safe_next

bp = Blueprint("sso", __name__)
log = logging.getLogger(__name__)


def _enabled_settings(slug: str) -> SsoSettings:
    settings = db.session.scalar(sa.select(SsoSettings).join(Company).where(
        Company.slug == slug.strip().lower(), SsoSettings.enabled.is_(True)))
    if settings is None:
        abort(404, description="This company has no single sign-on: log in with your email "
                               "and password.")
    return settings


def callback_url(slug: str) -> str:
    return current_app.config["BASE_URL"] + url_for("sso.callback", slug=slug)


@bp.get("/sso")
def start():
    """The login page's "single sign-on" form: the company's slug → its provider."""
    slug = request.args.get("company", "").strip().lower()
    if not slug:
        flash("Type your company's slug to log in with single sign-on.", "error")
        return redirect(url_for("auth.login"))
    return redirect(url_for("sso.login", slug=slug, next=safe_next(request.args.get("next"))))


@bp.get("/sso/<slug>/login")
def login(slug: str):
    settings = _enabled_settings(slug)
    session["sso_next"] = safe_next(request.args.get("next"))
    client = sso_service.oidc_client(settings)
    try:
        return client.authorize_redirect(callback_url(settings.company.slug))
    except sso_service.ProviderRefused as exc:
        return _refused(settings, exc)
    except requests.RequestException as exc:
        return _unreachable(settings, exc)


@bp.get("/sso/<slug>/callback")
def callback(slug: str):
    settings = _enabled_settings(slug)
    client = sso_service.oidc_client(settings)
    try:
        token = client.authorize_access_token()
        issuer = client.load_server_metadata().get("issuer", "").rstrip("/")
    except sso_service.ProviderRefused as exc:
        return _refused(settings, exc)
    except OAuthError as exc:
        abort(400, description=f"Single sign-on failed: {exc.description or exc.error}. "
                               "Try again from the login page.")
    except requests.RequestException as exc:
        return _unreachable(settings, exc)
    except JoseError as exc:
        abort(400, description=f"Single sign-on failed: the ID token is not valid ({exc}).")
    if issuer != settings.issuer.rstrip("/"):
        abort(400, description="Single sign-on failed: the provider's issuer does not match "
                               "the configured issuer.")
    claims = token.get("userinfo")
    if not claims:
        abort(400, description="Single sign-on failed: the provider sent no ID token.")
    try:
        user = sso_service.complete_login(settings, dict(claims), datetime.now(UTC))
    except sso_service.SsoError as exc:
        db.session.rollback()
        audit.record("login.failure", company_id=settings.company_id,
                     actor=str(claims.get("email") or claims.get("sub") or "unknown")[:254],
                     result="refused", details={"method": "sso", "reason": str(exc)})
        db.session.commit()
        abort(403, description=str(exc))
    audit.record("login.success", user, actor=user, details={"method": "sso"})
    db.session.commit()
    next_page = session.pop("sso_next", None)
    sessions.start(user, keep=(drafts.DRAFT,))  # a form sent after the login expired
    return redirect(next_page or url_for("tasks.home"))


def _refused(settings: SsoSettings, exc: sso_service.ProviderRefused):
    """The provider is at an address Herald does not connect to."""
    return _unavailable(settings, "refused", str(exc),
                        f"is not available: its identity provider ({settings.issuer}) was not "
                        f"contacted. {exc} Ask your administrator, or log in with your "
                        "password.")


def _unreachable(settings: SsoSettings, exc: requests.RequestException):
    """The provider cannot be reached (connection refused, no such name, no answer in time)
    or answered an error: the person can try again or use their password."""
    why = sso_service.why_unusable(exc)
    return _unavailable(settings, "failed", f"The identity provider {why}: {str(exc)[:500]}",
                        f"is not available right now: its identity provider "
                        f"({settings.issuer}) {why}. Try again in a few minutes, or log in "
                        "with your password if you have one.")


def _unavailable(settings: SsoSettings, result: str, reason: str, said: str):
    """An SSO login the provider cannot serve: audited as ``login.failure`` with ``result``
    and ``reason``, logged, and said on the login page (the slug typed kept)."""
    db.session.rollback()
    audit.record("login.failure", company_id=settings.company_id, actor="unknown",
                 result=result, details={"method": "sso", "issuer": settings.issuer,
                                         "reason": reason})
    db.session.commit()
    log.warning("SSO provider %s of company %s %s: %s", settings.issuer,
                settings.company.slug, result, reason)
    flash(f"Single sign-on of {settings.company.name} {said}", "error")
    return redirect(url_for("auth.login", company=settings.company.slug))


# -- settings --------------------------------------------------------------------------------


@bp.route("/admin/sso", methods=["GET", "POST"])
@login_required
@require_permission(P.MANAGE_USERS)
def settings():
    company_id = current_user.company_id
    current = sso_service.settings_of(company_id)
    errors: dict[str, str] = {}
    token = form_secrets.valid_token(request.form.get("form_token"))
    kept: dict[str, str] = {}
    form = drafts.restore()
    if form is not None:  # sent after the session expired: everything typed comes back
        token, kept = drafts.adopt_secrets(form)
        values = {**_payload(form, kept), "role_mapping": form.get("role_mapping", "")}
        return _render_settings(current, values, {}, 200, token, kept)
    if request.method == "POST":
        form = request.form
        # A secret typed in a submit that failed is kept server-side for this form.
        kept = form_secrets.keep(current_user.id, token,
                                 {"client_secret": form.get("client_secret", "")})
        mapping = sso_service.parse_mapping_text(form.get("role_mapping", ""))
        payload = _payload(form, kept)
        if form.get("action") == "test":
            values = {**payload, "role_mapping": form.get("role_mapping", "")}
            return _test_sign_in(current, values, token, kept)
        errors = {"role_mapping": mapping} if isinstance(mapping, str) else {}
        try:  # every field's message at once, the mapping's syntax among them
            data = sso_service.validate(company_id, payload, current,
                                        permissions_of(current_user))
            if not errors:
                current = sso_service.save(company_id, data, current)
        except InputError as exc:
            errors = {**exc.fields, **errors}
        if errors:
            db.session.rollback()
            values = {**payload, "role_mapping": form.get("role_mapping", "")}
            return _render_settings(current, values, errors, 422, token, kept)
        form_secrets.forget(current_user.id, token)
        db.session.commit()
        flash("Single sign-on settings saved.")
        return redirect(url_for("sso.settings"))
    values = {"enabled": bool(current and current.enabled),
              "issuer": current.issuer if current else "",
              "client_id": current.client_id if current else "",
              "groups_claim": current.groups_claim if current else "groups",
              "role_mapping": sso_service.mapping_text(current.role_mapping if current else {}),
              "sync_mode": request.args.get("sync_mode") if request.args.get("sync_mode")
              in SYNC_MODES else (current.sync_mode if current else "sso_only"),
              "allow_signup": bool(current and current.allow_signup)}
    return _render_settings(current, values, errors, token=token)


def _payload(form, kept: dict) -> dict:
    """The settings as typed (the secret: the one kept for this form)."""
    mapping = sso_service.parse_mapping_text(form.get("role_mapping", ""))
    return {"enabled": form.get("enabled") == "1", "issuer": form.get("issuer", ""),
            "client_id": form.get("client_id", ""),
            "client_secret": kept.get("client_secret", ""),
            "groups_claim": form.get("groups_claim", ""),
            "role_mapping": mapping if isinstance(mapping, dict) else {},
            "sync_mode": form.get("sync_mode", ""),
            "allow_signup": form.get("allow_signup") == "1"}


def _test_sign_in(current, values: dict, token: str, kept: dict):
    """"Test sign-in": the provider's discovery document and keys, fetched with the settings
    as typed; nothing is saved, every value comes back."""
    has_secret = bool(kept.get("client_secret") or (current and current.client_secret))
    try:
        with connection_tests.admitted(current_user.id):
            result = sso_check.test_sign_in(values["issuer"], values["client_id"], has_secret)
    except connection_tests.TooManyTests as exc:
        result = sso_check.SignInTest()
        result.add("Test sign-in", False, str(exc))
    db.session.rollback()
    audit.record("sso.test", current_user.company, result="ok" if result.ok else "failed",
                 target_type="sso_settings", details={
                     "issuer": values["issuer"][:300],
                     "steps": [{"step": s.name, "ok": s.ok, "message": s.message[:300]}
                               for s in result.steps],
                     "fields": result.fields})
    db.session.commit()
    return _render_settings(current, values, result.fields, 200, token, kept, tested=result)


def _render_settings(current, values, errors, status: int = 200, token: str = "",
                     kept: dict | None = None, tested=None):
    company = current_user.company
    at_risk = sso.at_risk(company.id, values["sync_mode"]) if current and current.enabled else {}
    downloaders = [r for r in db.session.scalars(sa.select(Role).where(
        Role.company_id == company.id, Role.builtin.is_(False)).order_by(Role.name))
        if P.DOWNLOAD_PERMISSIONS & set(r.permissions or ())]
    return render("sso/settings.html", "at_risk", values=values, errors=errors,
                  form_token=token or form_secrets.new_token(),
                  secret_kept=bool(kept and kept.get("client_secret")),
                  secret_set=bool(current and current.client_secret), at_risk=at_risk,
                  downloaders=downloaders, sync_modes=SYNC_MODES,
                  redirect_uri=callback_url(company.slug),
                  login_url=current_app.config["BASE_URL"] + url_for("sso.login",
                                                                     slug=company.slug),
                  saved_enabled=bool(current and current.enabled), tested=tested), status
