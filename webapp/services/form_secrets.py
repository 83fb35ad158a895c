"""Secrets typed into a form (server and proxy passwords), kept server-side for that form
only: in Redis, encrypted (webapp/crypto.py), under the form's random token and its user,
for an hour. A failed submit, a step change or a "Test connection" then never asks for them
again, and they are never echoed into the HTML."""

from __future__ import annotations

import json
import re
import secrets

import redis
from flask import current_app

from .. import crypto

TTL_SECONDS = 3600
NOBODY = 0  # the user of secrets sent after the session expired, until someone logs in
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_token() -> str:
    return secrets.token_urlsafe(18)


def valid_token(token: str | None) -> str:
    """The form's token as posted, or a new one when it is missing or malformed."""
    return token if token and _TOKEN.match(token) else new_token()


def _conn() -> redis.Redis | None:
    url = current_app.config.get("REDIS_URL")
    return redis.Redis.from_url(url, socket_timeout=5) if url else None


def _key(user_id: int, token: str) -> str:
    return f"herald:form-secrets:{user_id}:{token}"


def keep(user_id: int, token: str, typed: dict[str, str]) -> dict[str, str]:
    """Store the secrets just typed (non-empty ones) over those kept for this form; return
    every secret kept for it. Without Redis nothing is kept (the form asks again)."""
    conn = _conn()
    if conn is None:
        return {k: v for k, v in typed.items() if v}
    try:
        raw = conn.get(_key(user_id, token))
        kept = json.loads(crypto.decrypt(raw.decode())) if raw else {}
        fresh = {k: v for k, v in typed.items() if v}
        if fresh:
            kept.update(fresh)
            conn.set(_key(user_id, token), crypto.encrypt(json.dumps(kept)), ex=TTL_SECONDS)
        return kept
    except (redis.RedisError, ValueError):
        return {k: v for k, v in typed.items() if v}


def adopt(user_id: int, token: str) -> dict[str, str]:
    """The form sent after its session expired comes back to the user who logged in: the
    secrets kept for it under NOBODY become theirs; every secret kept for the form."""
    conn = _conn()
    parked: dict[str, str] = {}
    if conn is not None:
        try:
            raw, _ = conn.pipeline().get(_key(NOBODY, token)).delete(_key(NOBODY, token)) \
                .execute()
            parked = json.loads(crypto.decrypt(raw.decode())) if raw else {}
        except (redis.RedisError, ValueError):
            parked = {}
    return keep(user_id, token, parked)


def forget(user_id: int, token: str) -> None:
    conn = _conn()
    if conn is not None:
        try:
            conn.delete(_key(user_id, token))
        except redis.RedisError:
            pass
