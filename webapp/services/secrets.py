"""`secrets rotate`: every stored secret re-encrypted under the newest HERALD_ENCRYPTION_KEY.
The secrets are found by their column type (models.types.Encrypted), so none is forgotten."""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.fernet import InvalidToken

from .. import crypto
from ..extensions import db
from ..models.types import Encrypted


class SecretUnreadable(RuntimeError):
    """A stored secret cannot be decrypted with the configured keys."""


def encrypted_columns() -> list[sa.Column]:
    return [column for table in db.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, Encrypted)]


def rotate_secrets() -> dict[tuple[str, str], int]:
    """Re-encrypt every value of every Encrypted column (the caller commits); how many per
    (table, column). SecretUnreadable names the row that cannot be decrypted."""
    counts: dict[tuple[str, str], int] = {}
    for column in encrypted_columns():
        table, key = column.table, column.table.primary_key.columns[0]
        rows = db.session.execute(sa.select(key, column).where(column.is_not(None))).all()
        done = 0
        for ident, value in rows:
            try:
                rotated = column.type.rotate(value, crypto.rotate)
            except (ValueError, InvalidToken) as exc:
                raise SecretUnreadable(
                    f"{table.name} {ident}: its {column.name} cannot be decrypted with "
                    f"HERALD_ENCRYPTION_KEY ({exc or 'wrong key'})") from None
            if rotated != value:
                db.session.execute(sa.update(table).where(key == ident)
                                   .values({column.name: rotated}))
                done += 1
        counts[(table.name, column.name)] = done
    return counts
