"""Tenant scoping: every lookup of a company's record goes through here."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort
from flask_login import current_user

from .extensions import db


def current_company():
    return current_user.company if current_user.is_authenticated else None


def _max_id(model) -> int:
    """The largest id the model's key holds on every database (INTEGER is 32-bit on
    PostgreSQL)."""
    column = sa.inspect(model).primary_key[0]
    return 2**63 - 1 if isinstance(column.type, sa.BigInteger) else 2**31 - 1


def get_for_company_or_404(model, ident, company_id: int | None = None):
    """The record with this id in the current user's company; a foreign id is a 404."""
    company_id = company_id if company_id is not None else current_user.company_id
    try:
        ident = int(ident)
    except (TypeError, ValueError):
        abort(404)
    if not 0 < ident <= _max_id(model):  # beyond the column's type, the driver would overflow
        abort(404)
    obj = db.session.get(model, ident)
    if obj is None or obj.company_id != company_id:
        abort(404)
    return obj
