"""The one importer of htmx_flask: full page or a named block, and ``Vary: HX-Request``."""

from __future__ import annotations

from flask import Flask, render_template
from htmx_flask import Htmx
from htmx_flask import request as htmx_request
from jinja2_fragments.flask import render_block

htmx = Htmx()


def init_app(app: Flask) -> None:
    htmx.init_app(app)

    @app.after_request
    def vary_on_htmx(response):
        response.vary.add("HX-Request")
        return response


def is_htmx() -> bool:
    return bool(htmx_request.htmx)


def render(template: str, block: str | None = None, **context) -> str:
    """The whole page, or only ``block`` when htmx asked for it."""
    if block and is_htmx():
        return render_block(template, block, **context)
    return render_template(template, **context)


def render_fragment(template: str, block: str, **context) -> str:
    """Only ``block``, whoever asks (an endpoint that exists to serve a fragment)."""
    return render_block(template, block, **context)
