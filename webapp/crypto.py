"""Secrets at rest: Fernet with key rotation (``HERALD_ENCRYPTION_KEY`` = new,old,…)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

PREFIX = "fernet:"


def _keys() -> list[bytes]:
    configured = current_app.config.get("HERALD_ENCRYPTION_KEY")
    if configured:
        return [k.strip().encode() for k in configured.split(",") if k.strip()]
    # Debug mode only (config.check refuses this elsewhere): a key derived from SECRET_KEY.
    digest = hashlib.sha256(current_app.config["SECRET_KEY"].encode()).digest()
    return [base64.urlsafe_b64encode(digest)]


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k) for k in _keys()])


def encrypt(plain: str) -> str:
    return PREFIX + _fernet().encrypt(plain.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise ValueError("not an encrypted value")
    try:
        return _fernet().decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken:
        raise ValueError("the secret cannot be decrypted with HERALD_ENCRYPTION_KEY "
                         "(was the key rotated without keeping the old one?)") from None


def rotate(stored: str) -> str:
    """Re-encrypt under the newest key."""
    return PREFIX + _fernet().rotate(stored[len(PREFIX):].encode()).decode()
