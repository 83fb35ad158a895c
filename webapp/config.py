"""Herald's configuration: the only module that reads ``os.environ``.

Every setting is optional for a local run (SPEC §8). Outside debug mode Herald refuses to
start with a development ``SECRET_KEY`` or without ``HERALD_ENCRYPTION_KEY``.
"""

from __future__ import annotations

import os
from pathlib import Path

DEV_SECRET_KEY = "dev-only-secret-key-not-for-production"  # noqa: S105 - the refused default


class ConfigError(RuntimeError):
    """Herald cannot start with this environment; the message says what to set."""


# name, meaning, default — rendered in the README's configuration table too.
SETTINGS = (
    ("DATABASE_URL", "SQLAlchemy URL of the database", "SQLite file `instance/herald.db`"),
    ("REDIS_URL", "Redis for the job queues", "an embedded Redis started by `serve`"),
    ("SECRET_KEY", "signs sessions and CSRF tokens", "required outside debug mode"),
    ("HERALD_ENCRYPTION_KEY", "Fernet key(s) for secrets at rest, comma-separated, newest first",
     "required outside debug mode"),
    ("SMTP_URL", "`smtp://user:pass@host:port`, `smtp+starttls://…` or `smtps://…`",
     "unset: the built-in outbox"),
    ("MAIL_FROM", "sender address of report emails", "`Herald <herald@localhost>`"),
    ("BASE_URL", "public URL of the portal, for links in emails", "`http://127.0.0.1:5000`"),
    ("REPORTS_DIR", "where report CSVs are kept", "`instance/reports`"),
    ("DISPATCH_INTERVAL", "seconds between two dispatcher ticks (each dispatches the tasks "
     "due within its interval at their instant)", "`1`"),
    ("DISPATCH_AHEAD", "seconds ahead of their instant at which scheduled runs are prepared "
     "(run row and job made, held back until the instant); more than it takes to prepare the "
     "most runs due at one instant", "`60`"),
    ("RUN_HEARTBEAT_TIMEOUT", "seconds without a heartbeat after which a run's worker is taken "
     "for dead: the run is marked failed and retried once", "`300`"),
    ("HERALD_SSO_ROLE_MAPPER", "SSO role-mapping hook, `package.module:function` (claims, "
     "context) → role names; see roles/sso.py", "`roles.sso:map_roles` (the company's mapping)"),
    ("DELIVERY_RETRY_DELAYS", "seconds to wait before each retry of a failed delivery, "
     "comma-separated (its length + 1 is the number of attempts)", "`300,1500` (3 attempts "
     "over ~30 min)"),
    ("DELIVERY_CONNECT_TIMEOUT", "seconds to connect to an upload server (and its proxy), "
     "and the longest wait for any one answer", "`30`"),
    ("DELIVERY_TRANSFER_TIMEOUT", "seconds an upload may take, in all", "`300`"),
    ("FTPS_CA_FILE", "PEM file of extra certificate authorities trusted for FTPS servers",
     "the system's"),
    ("MAX_INGEST_BYTES", "largest body `POST /api/v1/ingest/{kind}` accepts, in bytes; over it "
     "the answer is 413 (the batches committed before are counted in it)",
     "`1073741824` (1 GiB)"),
    ("FLASK_DEBUG", "`1` for development: allows the default secrets", "off"),
)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def from_environ(instance_path: str, environ: os._Environ | dict | None = None) -> dict:
    """Build the Flask config mapping from the environment."""
    env = os.environ if environ is None else environ
    instance = Path(instance_path)
    base_url = env.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    return {
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
        "DISPATCH_INTERVAL": int(env.get("DISPATCH_INTERVAL") or 1),
        "DISPATCH_AHEAD": int(env.get("DISPATCH_AHEAD") or 60),
        "RUN_HEARTBEAT_TIMEOUT": float(env.get("RUN_HEARTBEAT_TIMEOUT") or 300),
        "SSO_ROLE_MAPPER": env.get("HERALD_SSO_ROLE_MAPPER") or "roles.sso:map_roles",
        "DELIVERY_RETRY_DELAYS": _seconds_list(env.get("DELIVERY_RETRY_DELAYS") or "300,1500"),
        "DELIVERY_CONNECT_TIMEOUT": float(env.get("DELIVERY_CONNECT_TIMEOUT") or 30),
        "DELIVERY_TRANSFER_TIMEOUT": float(env.get("DELIVERY_TRANSFER_TIMEOUT") or 300),
        "FTPS_CA_FILE": env.get("FTPS_CA_FILE") or None,
        "MAX_INGEST_BYTES": _positive_int("MAX_INGEST_BYTES", env.get("MAX_INGEST_BYTES"),
                                          1 << 30),
        "SESSION_COOKIE_SECURE": base_url.startswith("https://"),
        "REMEMBER_COOKIE_SECURE": base_url.startswith("https://"),
    }


def _seconds_list(value: str) -> tuple[int, ...]:
    try:
        delays = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        delays = (-1,)
    if any(d < 0 for d in delays):
        raise ConfigError(f"DELIVERY_RETRY_DELAYS must be whole seconds, comma-separated "
                          f"(e.g. 300,1500), not {value!r}")
    return delays


def _positive_int(name: str, value: str | None, default: int) -> int:
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise ConfigError(f"{name} must be a whole number of bytes above 0, not {value!r}.")
    return number


def _normalise_db_url(url: str) -> str:
    # Heroku-style URLs say postgres://; SQLAlchemy wants a driver name.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def check(config: dict) -> None:
    """Refuse to run in production with development secrets, or with a role-mapping hook
    that cannot be loaded (better now than at someone's SSO login)."""
    mapper = config.get("SSO_ROLE_MAPPER")
    if mapper:
        from roles.sso import load_mapper

        try:
            load_mapper(mapper)
        except (ImportError, ValueError) as exc:
            raise ConfigError(f"HERALD_SSO_ROLE_MAPPER={mapper} cannot be loaded: {exc}") from None
    if config.get("DISPATCH_AHEAD", 0) < 0:
        raise ConfigError(f"DISPATCH_AHEAD must be 0 or more seconds, not "
                          f"{config['DISPATCH_AHEAD']}.")
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
