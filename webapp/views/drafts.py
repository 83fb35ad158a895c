"""A form sent after its login session expired loses nothing typed.

When a form is posted with a CSRF token its session no longer accepts, or after the login
behind it timed out, what was typed is kept in the session under ``DRAFT`` (secrets are
not: form_secrets keeps them encrypted server-side under the form's token), and the user
goes back to the form, through the login page when the login is gone. ``sessions.start``
carries ``DRAFT`` across the login, and the form's page, opened again, takes what was
typed back with ``restore()``: nothing is saved until the form is sent again.

``FORMS`` names the forms that do this (by endpoint) and what of each is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, request, session, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from ..services import form_secrets
from . import forms

DRAFT = "form_draft"  # the session key of a form sent after its session expired
NEVER_KEPT = ("csrf_token", "action")


@dataclass(frozen=True)
class Kept:
    """What of a form is kept: every field but ``secrets`` (those go to form_secrets, under
    the form's ``form_token``), or only the fields named in ``only``."""

    secrets: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None

    def keeps(self, name: str) -> bool:
        if name in NEVER_KEPT or name in self.secrets:
            return False
        return self.only is None or name in self.only


FORMS: dict[str, Kept] = {
    "tasks.create": Kept(secrets=forms.SECRET_FIELDS),
    "tasks.edit": Kept(secrets=forms.SECRET_FIELDS),
    "sso.settings": Kept(secrets=("client_secret",)),
    "roles.create": Kept(),
    "roles.edit": Kept(),
    "users.create": Kept(),
    # What a new API token is called and allowed: its text is made by Herald, never typed.
    "account.token_create": Kept(only=("name", "scope", "expires_days")),
}


def kept_for_request() -> Kept | None:
    """What is kept of this request's form: None when it is no POST of a form in FORMS."""
    return FORMS.get(request.endpoint or "") if request.method == "POST" else None


def session_expired(kept: Kept):
    """Keep what was typed in this request's form and go back to it: straight away when
    the login is alive (only the CSRF token was refused), else through the login page."""
    session[DRAFT] = {"path": request.path, "user": session.get("_user_id"), "fields": [
        [k, v] for k, v in request.form.items(multi=True) if kept.keeps(k)]}
    token = request.form.get("form_token")
    if kept.secrets and token and token == form_secrets.valid_token(token):
        form_secrets.keep(current_user.id if current_user.is_authenticated else
                          form_secrets.NOBODY, token,
                          {k: request.form.get(k, "") for k in kept.secrets})
    if current_user.is_authenticated:
        return redirect(request.path)
    flash("Your session expired before the form was sent. Log in again: what you typed "
          "will be back in the form.", "error")
    return redirect(url_for("auth.login", next=request.path))


def restore() -> MultiDict | None:
    """The fields typed into this page's form before its session expired (once), or None.
    Nothing of them has been saved: a flash says so. A draft whose expired login was known
    comes back to that user only (someone else logging in on the same browser finds the form
    empty); one sent with no cookie at all comes back to whoever logs in next there."""
    draft = session.get(DRAFT)
    if request.method != "GET" or not isinstance(draft, dict) \
            or draft.get("path") != request.path:
        return None
    session.pop(DRAFT)
    if draft.get("user") not in (None, current_user.get_id()):
        return None  # typed by the user of the expired login, not by the one now logged in
    flash("Your session expired before the form was sent: what you typed is back, and "
          "nothing was saved. Send it again.", "error")
    return MultiDict([tuple(pair) for pair in draft.get("fields", ())])


def adopt_secrets(form) -> tuple[str, dict[str, str]]:
    """(the form's token, the secrets kept for it) of a restored form: those typed before
    the login expired become the user's who logged in."""
    token = form_secrets.valid_token(form.get("form_token"))
    return token, form_secrets.adopt(current_user.id, token)
