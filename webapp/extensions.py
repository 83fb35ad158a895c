"""Flask extensions, created unbound; ``create_app`` binds them with ``init_app``."""

import sqlite3

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

# Named constraints so that Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# Login throttling; counters in Redis (RATELIMIT_STORAGE_URI, set from REDIS_URL), so every web
# process shares them. Only the routes that ask for a limit have one.
limiter = Limiter(key_func=get_remote_address)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite checks foreign keys only when asked, connection by connection. Without this a
    deleted task would leave its runs and deliveries behind on SQLite, where PostgreSQL
    deletes them (ON DELETE CASCADE). Migrations turn it off for their table rebuilds
    (migrations/env.py).

    A database file is kept in WAL mode: a commit is one write to the log (a few ms, where
    the default journal takes several syncs: about 5× longer, and a report run commits
    about six times), and readers (the portal) never wait for a writer (a worker)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")  # kept by the file; memory stays memory
        cursor.close()


@event.listens_for(Pool, "checkin")
def _sqlite_cache_back(dbapi_connection, record) -> None:
    """A connection given a larger page cache for one bulk write (services/bulk.py) gets its
    own back as it returns to the pool, in the thread that used it: the cache is freed."""
    size = record.info.pop("cache_size", None) if record is not None else None
    if size is not None and isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute(f"PRAGMA cache_size = {int(size)}")
