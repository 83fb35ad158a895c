"""The JSON API, /api/v1: the blueprint (blueprint.py) with every route module on it."""

from __future__ import annotations

from . import (  # noqa: F401 - routes register on bp
    audit,
    ingest,
    openapi,
    roles,
    runs,
    sso,
    tasks,
    users,
)
from .blueprint import bp

__all__ = ["bp"]
