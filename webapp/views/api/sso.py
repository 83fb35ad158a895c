"""A company's single sign-on settings, with the recipients at risk under the sync mode."""

from __future__ import annotations

from flask import current_app, jsonify, request, url_for
from flask_login import current_user

from roles import permissions as P
from roles import sso
from roles.access import require_permission

from ...extensions import db
from ...schemas.people import SsoSettingsSchema
from ...services import sso as sso_service
from ...services.errors import InputError
from .blueprint import bp
from .errors import error_response


def sso_json(settings) -> dict:
    company = current_user.company
    base = current_app.config["BASE_URL"]
    links = {"redirect_uri": base + url_for("sso.callback", slug=company.slug),
             "login_url": base + url_for("sso.login", slug=company.slug)}
    at_risk = sso.at_risk(company.id, settings.sync_mode if settings else "sso_only")
    return SsoSettingsSchema(links=links, at_risk=at_risk).dump(settings)


@bp.get("/sso")
@require_permission(P.MANAGE_USERS)
def get_sso():
    """The company's single sign-on settings (the client secret is never returned).
    ---
    get:
      summary: Read the SSO settings
      responses:
        200: {description: The settings and the recipients at risk, content: {application/json: {schema: SsoSettings}}}
    """
    return jsonify(sso_json(sso_service.settings_of(current_user.company_id)))


@bp.put("/sso")
@require_permission(P.MANAGE_USERS)
def put_sso():
    """Change the single sign-on settings; the fields given replace the stored ones
    (an absent or empty client_secret keeps the stored secret).
    ---
    put:
      summary: Change the SSO settings
      requestBody: {required: true, content: {application/json: {schema: SsoSettings}}}
      responses:
        200: {description: The settings, content: {application/json: {schema: SsoSettings}}}
        422: {description: Invalid fields, content: {application/json: {schema: Error}}}
    """
    current = sso_service.settings_of(current_user.company_id)
    try:
        data = sso_service.validate(current_user.company_id, request.get_json(silent=True),
                                    current)
        settings = sso_service.save(current_user.company_id, data, current)
    except InputError as exc:
        db.session.rollback()
        return error_response(422, "invalid", "Some fields are not valid.", exc.fields)
    db.session.commit()
    return jsonify(sso_json(settings))
