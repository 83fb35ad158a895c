"""Error answers: JSON for the API, and for the portal a page in its layout, with the
navigation and a way forward (back where the user came from, the first page they may open,
or logging in), never the framework's bare text."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from .api.errors import error_response
from .nav import way_forward

# code → (heading, what happened, in words people use)
WORDS = {
    400: ("Herald could not read that request", None),
    403: ("You can’t open this page", None),
    404: ("Page not found",
          "There is no page at this address, or it belongs to another company. "
          "Check the link, or go on from one of the pages below."),
    405: ("This address can’t be opened like that",
          "This address only accepts a form sent from Herald’s own pages, so opening it "
          "directly shows nothing."),
    429: ("Too many attempts", None),
    500: ("Something went wrong on Herald’s side",
          "Nothing you did caused this, and it has been logged. Try again in a moment; if it "
          "keeps happening, tell your Herald administrator the time it happened."),
}
CSRF = ("This form has expired",
        "Herald did not accept the form because it was opened too long ago or your session "
        "ended, so nothing was changed. Open the page again, then send the form again.")


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)


def http_error(exc: HTTPException):
    if request.path.startswith("/api/"):
        return error_response(exc.code, exc.name.lower().replace(" ", "_"), exc.description)
    # The exception's own headers (Allow on a 405) stay; the body is ours.
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    try:
        return render_template("errors.html", **_page(exc)), exc.code, headers
    except Exception:  # the page itself failed (a database down…): plain words
        current_app.logger.exception("could not render the error page for %s", exc.code)
        return (f"<!doctype html><title>{exc.code} {escape(exc.name)}</title>"
                f"<h1>{escape(exc.name)}</h1><p><a href=\"/\">Herald</a></p>", exc.code,
                [*headers, ("Content-Type", "text/html; charset=utf-8")])


def _page(exc: HTTPException) -> dict:
    if isinstance(exc, CSRFError):
        heading, message = CSRF
    else:
        heading, message = WORDS.get(exc.code, (exc.name, None))
        if exc.description != type(exc).description:  # said by Herald for this case
            message = exc.description
    back = _back()
    forward = way_forward(request.path, back) if current_user.is_authenticated else None
    return {"error": exc, "heading": heading, "message": message or exc.description,
            "back": back, "forward": forward,
            "login": None if current_user.is_authenticated else url_for("auth.login")}


def _back() -> str | None:
    """The page the user came from, when it is one of Herald's and not this one."""
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc != request.host or not referrer.path.startswith("/"):
        return None
    back = referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return None if referrer.path == request.path else back
