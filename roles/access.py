"""Permission checks, in one place, for views, the API and templates."""

from __future__ import annotations

from functools import wraps

from flask import abort, g
from flask_login import current_user

from .permissions import ADMIN_GROUP_PERMISSIONS, BY_KEY, download_permission


def permissions_of(user) -> frozenset[str]:
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = g.get("_herald_permissions")
    if cached is None or cached[0] != user.id:
        cached = (user.id, user.permissions())
        g._herald_permissions = cached
    return cached[1]


def can(permission: str, user=None) -> bool:
    return permission in permissions_of(user if user is not None else current_user)


def can_download(report_type: str, user=None) -> bool:
    """The type's download permission, or the whole Admin - Scheduled reports group."""
    held = permissions_of(user if user is not None else current_user)
    return download_permission(report_type) in held or ADMIN_GROUP_PERMISSIONS <= held


def require_permission(permission: str):
    """View decorator: 403 unless the logged-in user holds ``permission``.

    Login itself is checked first by the blueprint's ``before_request``.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not can(permission):
                abort(403, description=f"You need the permission “{_label(permission)}”.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _label(permission: str) -> str:
    p = BY_KEY.get(permission)
    return p.label if p else permission
