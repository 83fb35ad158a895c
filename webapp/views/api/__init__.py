"""The JSON API, /api/v1: the blueprint (blueprint.py) with every route module on it."""

from __future__ import annotations

# The route modules register their routes on bp.
from . import audit, ingest, openapi, roles, runs, sso, tasks, tokens, users  # noqa: F401
from .blueprint import bp

__all__ = ["bp"]
