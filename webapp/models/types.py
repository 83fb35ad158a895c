"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Encrypted(TypeDecorator):
    """The one column type of every stored secret (docs/product.md §9): Fernet tokens
    (``fernet:…``, webapp/crypto.py), written and read as they are. Either the whole value is
    a token (text), or the value is a JSON object whose ``paths`` (dotted) hold tokens — a
    task's server with its password and proxy password. ``secrets rotate`` finds every column
    of this type and re-encrypts each token in it; a secret added later is covered by using it.
    """

    impl = sa.Text
    cache_ok = True

    def __init__(self, paths: tuple[str, ...] = ()):
        super().__init__()
        self.paths = tuple(paths)

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(sa.JSON() if self.paths else sa.Text())

    @property
    def python_type(self):
        return dict if self.paths else str

    def rotate(self, value, rotate_token):
        """``value`` with every token in it passed through ``rotate_token``."""
        if not value:
            return value
        if not self.paths:
            return rotate_token(value)
        rotated = {k: dict(v) if isinstance(v, dict) else v for k, v in value.items()}
        for path in self.paths:
            *parents, key = path.split(".")
            container = rotated
            for part in parents:
                container = container.get(part) or {}
            if container.get(key):
                container[key] = rotate_token(container[key])
        return rotated
