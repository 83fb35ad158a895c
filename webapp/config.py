"""Herald's configuration: the only module that reads ``os.environ``.

Every setting is optional for a local run (docs/product.md §8). Outside debug mode Herald refuses to
start with a development ``SECRET_KEY`` or without ``HERALD_ENCRYPTION_KEY``.

Every process (each ``flask --app app …`` command, the workers, the scheduler, gunicorn)
reads the environment over ``instance/herald.env`` when that file exists: ``make run``
generates the secrets there, so the CLI works in the checkout it set up. A variable set
(non-empty) in the environment wins over the file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from .settings_table import SETTINGS  # noqa: F401 - the README's table, one row per setting

ENV_FILE = "herald.env"  # in the instance folder
DEFAULT_PORT = 5000
LOG_FORMATS = ("text", "json")
DEV_SECRET_KEY = "dev-only-secret-key-not-for-production"  # noqa: S105 - the refused default


class ConfigError(RuntimeError):
    """Herald cannot start with this environment; the message says what to set."""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def default_instance_path() -> str:
    """The repository's own instance/ folder when run from a checkout, as `make run` does."""
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "instance"))


def load_environ(instance_path: str | None = None) -> dict[str, str]:
    """The process environment over ``instance/herald.env`` (when present)."""
    path = Path(instance_path or default_instance_path()) / ENV_FILE
    merged = {k: v for k, v in dotenv_values(path).items() if v is not None} \
        if path.is_file() else {}
    merged.update((k, v) for k, v in os.environ.items() if v or k not in merged)
    return merged


def process_environ() -> dict[str, str]:
    """The environment as is, for the child processes of ``serve`` (they read it again)."""
    return dict(os.environ)


def process_settings(env: dict | None = None) -> dict:
    """What a process needs before its app exists: where to listen, how many web workers,
    the shutdown grace and the logging. Raises ConfigError for a value that cannot be used."""
    env = load_environ() if env is None else env
    fmt = (env.get("LOG_FORMAT") or "text").strip().lower()
    if fmt not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be text or json, not {env['LOG_FORMAT']!r}.")
    level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not "
                          f"{env['LOG_LEVEL']!r}.")
    return {
        "PORT": _number(env, "PORT", int, 1, 65535),
        "HOST": (env.get("HOST") or "").strip() or None,
        "WEB_CONCURRENCY": _number(env, "WEB_CONCURRENCY", int, 1, 64),
        "SHUTDOWN_GRACE": _number(env, "SHUTDOWN_GRACE", float, 0, 3600, default=25.0),
        "LOG_FORMAT": fmt,
        "LOG_LEVEL": level,
    }


def _number(env, name: str, kind: type, low: float, high: float, default=None):
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ConfigError(f"{name} must be a {'whole ' if kind is int else ''}number from "
                          f"{low:g} to {high:g}, not {raw!r}.")
    return value


def listen_address(settings: dict, host: str | None = None,
                   port: int | None = None) -> tuple[str, int]:
    """Where the web server listens: the flags, else HOST and PORT, else 127.0.0.1:5000.
    PORT without HOST means a platform routes to us from outside: listen on 0.0.0.0."""
    port = port or settings.get("PORT") or DEFAULT_PORT
    host = host or settings.get("HOST") or ("0.0.0.0" if settings.get("PORT") else  # noqa: S104
                                            "127.0.0.1")
    return host, port


def reachable_host(host: str) -> str:
    """How this machine reaches a listening address (0.0.0.0 → 127.0.0.1, :: → ::1)."""
    if host in ("", "0.0.0.0", "*"):  # noqa: S104 - reading, not binding
        return "127.0.0.1"
    return "::1" if host == "::" else host


def url_of(host: str, port: int) -> str:
    """The URL of a listening address, as this machine reaches it."""
    host = reachable_host(host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def web_workers(settings: dict) -> int:
    """WEB_CONCURRENCY, else 2 to 4 by CPU count (gthread workers of 4 threads each)."""
    return settings.get("WEB_CONCURRENCY") or min(4, max(2, os.cpu_count() or 1))


def from_environ(instance_path: str, environ: os._Environ | dict | None = None) -> dict:
    """Build the Flask config mapping from the environment (and instance/herald.env)."""
    env = load_environ(instance_path) if environ is None else environ
    instance = Path(instance_path)
    process = process_settings(env)
    explicit_base_url = (env.get("BASE_URL") or "").strip().rstrip("/")
    base_url = explicit_base_url or url_of(*listen_address(process))
    return {
        **process,
        "BASE_URL_SET": bool(explicit_base_url),
        "DEBUG_MODE": _flag(env.get("FLASK_DEBUG")),
        "SQLALCHEMY_DATABASE_URI": _normalise_db_url(
            env.get("DATABASE_URL") or f"sqlite:///{instance / 'herald.db'}"
        ),
        "REDIS_URL": env.get("REDIS_URL") or None,
        "SECRET_KEY": env.get("SECRET_KEY") or DEV_SECRET_KEY,
        "HERALD_ENCRYPTION_KEY": env.get("HERALD_ENCRYPTION_KEY") or None,
        "SMTP_URL": env.get("SMTP_URL") or None,
        "MAIL_FROM": env.get("MAIL_FROM") or "Herald <herald@localhost>",
        "BASE_URL": base_url,
        "REPORTS_DIR": env.get("REPORTS_DIR") or str(instance / "reports"),
        "REPORT_STORAGE_URL": env.get("REPORT_STORAGE_URL") or None,
        "REPORT_DOWNLOAD_URL_SECONDS": _whole(env, "REPORT_DOWNLOAD_URL_SECONDS", 0),
        "REPORT_RETENTION_DAYS": _whole(env, "REPORT_RETENTION_DAYS", 90),
        "SILENCE_GRACE_MINUTES": _whole(env, "SILENCE_GRACE_MINUTES", 30),
        "METRICS_TOKEN": env.get("METRICS_TOKEN") or None,
        "PROMETHEUS_MULTIPROC_DIR": env.get("PROMETHEUS_MULTIPROC_DIR") or None,
        "DISPATCH_INTERVAL": int(env.get("DISPATCH_INTERVAL") or 1),
        "DISPATCH_AHEAD": int(env.get("DISPATCH_AHEAD") or 60),
        "CATCH_UP_MAX": max(1, _whole(env, "CATCH_UP_MAX", 24)),
        "RUN_HEARTBEAT_TIMEOUT": float(env.get("RUN_HEARTBEAT_TIMEOUT") or 300),
        "SSO_ROLE_MAPPER": env.get("HERALD_SSO_ROLE_MAPPER") or "roles.sso:map_roles",
        "DELIVERY_RETRY_DELAYS": _seconds_list(env.get("DELIVERY_RETRY_DELAYS") or "300,1500"),
        "ACCOUNT_MAIL_RETRY_DELAYS": _seconds_list(
            env.get("ACCOUNT_MAIL_RETRY_DELAYS") or "30,120,600,1800",
            "ACCOUNT_MAIL_RETRY_DELAYS", "30,120,600,1800"),
        "DELIVERY_CONNECT_TIMEOUT": float(env.get("DELIVERY_CONNECT_TIMEOUT") or 30),
        "DELIVERY_TRANSFER_TIMEOUT": float(env.get("DELIVERY_TRANSFER_TIMEOUT") or 300),
        "FTPS_CA_FILE": env.get("FTPS_CA_FILE") or None,
        "SSO_HTTP_TIMEOUT": float(env.get("SSO_HTTP_TIMEOUT") or 10),
        "AUDIT_RETENTION_DAYS": int(env.get("AUDIT_RETENTION_DAYS") or 400),
        "INVITE_TTL_HOURS": _whole(env, "INVITE_TTL_HOURS", 72) or 72,
        "MAX_INGEST_BYTES": _positive_int("MAX_INGEST_BYTES", env.get("MAX_INGEST_BYTES"),
                                          1 << 30),
        "ALLOW_PRIVATE_TARGETS": _flag(env.get("ALLOW_PRIVATE_TARGETS")),
        "CONNECTION_TEST_TIMEOUT": float(env.get("CONNECTION_TEST_TIMEOUT") or 10),
        "CONNECTION_TEST_LIMIT": env.get("CONNECTION_TEST_LIMIT") or "10 per minute",
        "LOGIN_ADDRESS_LIMIT": env.get("LOGIN_ADDRESS_LIMIT") or "20 per minute",
        "TRUSTED_PROXIES": _whole(env, "TRUSTED_PROXIES", 0),
        "SESSION_IDLE_MINUTES": _positive_int("SESSION_IDLE_MINUTES",
                                              env.get("SESSION_IDLE_MINUTES"), 60),
        "SESSION_MAX_HOURS": _positive_int("SESSION_MAX_HOURS", env.get("SESSION_MAX_HOURS"), 12),
        "SESSION_COOKIE_SECURE": base_url.startswith("https://"),
        "REMEMBER_COOKIE_SECURE": base_url.startswith("https://"),
    }


def _whole(env, name: str, default: int) -> int:
    value = env.get(name) or str(default)
    if not value.strip().isdigit():
        raise ConfigError(f"{name} must be a whole number (0 or more), not {value!r}.")
    return int(value)


def _seconds_list(value: str, name: str = "DELIVERY_RETRY_DELAYS",
                  example: str = "300,1500") -> tuple[int, ...]:
    try:
        delays = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        delays = (-1,)
    if any(d < 0 for d in delays):
        raise ConfigError(f"{name} must be whole seconds, comma-separated "
                          f"(e.g. {example}), not {value!r}")
    return delays


def _positive_int(name: str, value: str | None, default: int) -> int:
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise ConfigError(f"{name} must be a whole number above 0, not {value!r}.")
    return number


def _normalise_db_url(url: str) -> str:
    # Heroku-style URLs say postgres://; SQLAlchemy wants a driver name.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def check(config: dict) -> None:
    """Refuse to run in production with development secrets or impossible settings."""
    if config.get("DISPATCH_AHEAD", 0) < 0:
        raise ConfigError(f"DISPATCH_AHEAD must be 0 or more seconds, not "
                          f"{config['DISPATCH_AHEAD']}.")
    if config.get("REPORT_STORAGE_URL"):
        _check_storage_url(config["REPORT_STORAGE_URL"])
    if config.get("DEBUG_MODE") or config.get("TESTING"):
        return
    missing = []
    if config["SECRET_KEY"] == DEV_SECRET_KEY:
        missing.append("SECRET_KEY")
    if not config["HERALD_ENCRYPTION_KEY"]:
        missing.append("HERALD_ENCRYPTION_KEY")
    if missing:
        raise ConfigError(
            f"Herald will not start without {' and '.join(missing)} outside debug mode: "
            "set them in the environment (`make run` generates both into "
            "instance/herald.env), or set FLASK_DEBUG=1 for development."
        )


def _check_storage_url(url: str) -> None:
    parts = urlsplit(url)
    if not ((parts.scheme == "file" and parts.path and not parts.netloc)
            or (parts.scheme == "s3" and parts.netloc)):
        raise ConfigError(f"REPORT_STORAGE_URL must be file:///absolute/path or "
                          f"s3://bucket/optional/prefix, not {url!r}.")
