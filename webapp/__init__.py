"""Herald's web application: the portal and the JSON API."""

from __future__ import annotations

import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as herald_config
from .extensions import csrf, db, limiter, login_manager, migrate
from .models.types import Encrypted
from .strict_json import StrictJSONProvider


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=herald_config.default_instance_path())
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
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "herald-limits")
    # Redis unreachable: each process counts the limits in its own memory until Redis
    # answers again, so that logging in keeps working (and stays limited).
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("LOGIN_ACCOUNT_LIMIT", "5 per 15 minutes")  # failures, per account
    app.config.setdefault("LOGIN_ADDRESS_LIMIT", "20 per minute")  # attempts, per address
    herald_config.check(app.config)
    from roles.sso import check_mapper  # roles import the models: load them with the app

    try:
        check_mapper(app.config)
    except ValueError as exc:
        raise herald_config.ConfigError(str(exc)) from None
    _owner_only(app.instance_path)
    # Logging is the process's, configured where it starts (webapp/logs.py), not here.

    proxies = app.config.get("TRUSTED_PROXIES", 0)
    if proxies:  # the client's address, scheme and host as the proxies in front of us saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=_compare_type,
                     directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)

    from . import headers, htmx, models  # noqa: F401 - models register their tables
    from .cli import register_cli
    from .views import register_blueprints

    htmx.init_app(app)
    headers.init_app(app)
    register_blueprints(app)
    register_cli(app)
    return app



def _owner_only(instance_path: str) -> None:
    """What Herald writes is readable by its own user only: files 0600, folders 0700 (the
    database, reports, the demo login, the embedded Redis's folder), whatever the umask."""
    os.umask(0o077)
    os.makedirs(instance_path, mode=0o700, exist_ok=True)
    for path in (instance_path, *(e.path for e in os.scandir(instance_path))):
        try:
            if not os.path.islink(path) and os.stat(path).st_uid == os.getuid():
                os.chmod(path, 0o700 if os.path.isdir(path) else 0o600)
        except OSError:  # gone meanwhile, or not ours to change
            pass


def _compare_type(_context, _inspected, _column, _inspected_type, metadata_type):
    """Alembic's type comparison, except that an Encrypted column is the Text or JSON it is
    stored as (a secret's type is ours, not the database's)."""
    return False if isinstance(metadata_type, Encrypted) else None
