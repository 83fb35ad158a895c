"""Herald's web application: the portal and the JSON API."""

from __future__ import annotations

import logging
import os

from flask import Flask

from . import config as herald_config
from .extensions import csrf, db, login_manager, migrate
from .strict_json import StrictJSONProvider


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=_instance_path())
    app.json = StrictJSONProvider(app)  # bad JSON bodies are 4xx, whatever is inside them
    app.config.from_mapping(herald_config.from_environ(app.instance_path))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=None,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
    )
    if test_config:
        app.config.update(test_config)
    herald_config.check(app.config)
    os.makedirs(app.instance_path, exist_ok=True)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True,
                     directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)

    from . import htmx, models  # noqa: F401 - models register their tables
    from .cli import register_cli
    from .views import register_blueprints

    htmx.init_app(app)
    register_blueprints(app)
    register_cli(app)
    return app


def _instance_path() -> str:
    # The repository's own instance/ folder when run from a checkout, as `make run` does.
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "instance"))
