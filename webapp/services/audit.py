"""The audit trail: one call records an action with its actor, address, target and details,
in the transaction of the change it records (the caller commits). Listing with filters and
keyset paging serves the portal's Audit page, its CSV export and GET /api/v1/audit (retention
is jobs/retention.py, a step of the dispatcher tick)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import has_request_context, request
from flask_login import current_user

from ..extensions import db
from ..models import AuditEvent, Run, Task
from ..schemas.lists import AuditEventSchema
from .errors import InputError
from .lists import Page, keyset

MASK = "••••••"
SECRET_WORDS = ("password", "secret", "token")
PAGE = 50


def mask(value):
    """``value`` with every secret-looking entry (password, secret, token) masked."""
    if isinstance(value, dict):
        return {k: (MASK if v and any(w in str(k).lower() for w in SECRET_WORDS) else mask(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def _actor():
    user = current_user if has_request_context() else None
    if user is not None and getattr(user, "is_authenticated", False):
        return user
    return None


def record(action: str, target=None, *, company_id: int | None = None, details=None,
           result: str = "ok", actor=None, target_type: str | None = None,
           target_name: str | None = None) -> AuditEvent:
    """Add an event to the session. ``target`` is a model row (task, run, role, user, …);
    ``actor`` a user, an email (a failed login), or None for the logged-in user or system."""
    actor = actor if actor is not None else _actor()
    event = AuditEvent(
        action=action, result=result, details=mask(details) if details else None,
        company_id=company_id or getattr(actor, "company_id", None)
        or getattr(target, "company_id", None),
        user_id=getattr(actor, "id", None),
        actor=actor if isinstance(actor, str) else getattr(actor, "email", None) or "system",
        remote_addr=request.remote_addr if has_request_context() else None)
    if target is not None:
        event.target_type = target_type or target.__tablename__.rstrip("s")
        event.target_id = target.id
        event.target_name = (target_name or _name_of(target))[:300]
        if isinstance(target, Run):
            event.run_id = target.id
    elif target_type:
        event.target_type, event.target_name = target_type, target_name
    db.session.add(event)
    return event


def _name_of(target) -> str:
    if isinstance(target, Run):
        return f"{target.task.name} #{target.id}" if target.task else f"run #{target.id}"
    for attribute in ("email", "name", "slug"):
        value = getattr(target, attribute, None)
        if value:
            return str(value)
    return f"#{target.id}"


# -- task changes -----------------------------------------------------------------------------

TASK_FIELDS = ("name", "report_type", "channels", "options", "server", "active",
               "schedule_kind", "schedule_time", "schedule_every", "schedule_weekday",
               "schedule_day", "timezone", "catch_up")


def task_fields(task: Task | None) -> dict:
    """What an edit of the task may change, secrets masked, to compare before and after.
    ``_secrets`` holds the stored (encrypted) secrets: a kept one is the same token."""
    if task is None:
        return {}
    values = mask({f: getattr(task, f) for f in TASK_FIELDS})
    values["recipients"] = sorted(r.email for r in task.recipients)
    values["ends_on"] = task.ends_on.isoformat() if task.ends_on else None
    server = task.server or {}
    values["_secrets"] = (server.get("password"), (server.get("proxy") or {}).get("password"))
    return values


def task_saved(task: Task, before: dict) -> None:
    after = task_fields(task)
    secrets = after.pop("_secrets")
    if not before:
        record("task.create", task, details={"fields": after})
        return
    changed = {k: {"from": before.get(k), "to": v} for k, v in after.items()
               if before.get(k) != v}
    if before.get("_secrets") != secrets:
        changed["server.credentials"] = {"from": MASK, "to": MASK}
    record("task.update", task, details={"changed": changed})


# -- reading ----------------------------------------------------------------------------------

@dataclass
class Filters:
    action: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: int | None = None


def parse_filters(args) -> Filters:
    """Filters from query arguments; InputError naming the bad ones."""
    errors, out = {}, Filters()
    for key in ("action", "actor"):
        value = (args.get(key) or "").strip()
        if len(value) > 254:
            errors[key] = f"{key.capitalize()} must be at most 254 characters."
        setattr(out, key, value or None)
    for key in ("since", "until"):
        value = (args.get(key) or "").strip()
        if value:
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None or not 1970 <= moment.year <= 9000:
                errors[key] = (f"{key.capitalize()} must be an ISO 8601 time with its offset, "
                               "such as 2026-11-30T06:30:00+00:00.")
            setattr(out, key, moment)
    cursor = (args.get("cursor") or "").strip()
    if cursor:
        if not cursor.isdigit() or len(cursor) > 10 or int(cursor) > 2**31 - 1:  # an id
            errors["cursor"] = "Cursor must be the next_cursor of a previous page."
        else:
            out.cursor = int(cursor)
    if errors:
        raise InputError(errors)
    return out


def page(company_id: int, filters: Filters, limit: int = PAGE) -> Page:
    """One page, newest first, and the cursor of the next page (None at the end). Each read
    is a range of an index that ends with the id: (company_id, id), (company_id, action, id)
    for an action, (company_id, lower(actor), id) for an actor, (company_id, lower(actor),
    action, id) for both. A family of actions (task) is one such range per action in it,
    merged: a page costs the same however long the history and however rare the family. A
    period alone with few events is its range of (company_id, at), sorted by id."""
    where = [AuditEvent.company_id == company_id]
    if filters.actor:
        where.append(sa.func.lower(AuditEvent.actor) == filters.actor.lower())
    if filters.since:
        where.append(AuditEvent.at >= filters.since)
    if filters.until:
        where.append(AuditEvent.at < filters.until)
    action = (filters.action or "").rstrip(".")
    # A period with few events, and nothing narrower: its range of (company_id, at), sorted
    # by id (walking the ids down to a quiet period would read the whole history); a busy
    # one is walked by id, its events met at once.
    by_period = not (action or filters.actor) and _few_in(where, filters)
    key = AuditEvent.id + 0 if by_period else AuditEvent.id  # +0: no index by id
    if filters.cursor:
        where.append(key < filters.cursor)
    if "." in action or not filters.action:  # every action is family.verb: one range
        if action:
            where.append(AuditEvent.action == action)
        rows = db.session.scalars(sa.select(AuditEvent).where(*where)
                                  .order_by(key.desc()).limit(limit + 1)).all()
        return keyset(rows, limit)
    parts = [sa.select(AuditEvent.id).where(*where, AuditEvent.action == name)
             .order_by(AuditEvent.id.desc()).limit(limit + 1).subquery()
             for name in actions_of(company_id)
             if name == action or name.startswith(action + ".")]
    ids = sorted(db.session.scalars(sa.union_all(*(sa.select(p.c.id) for p in parts))),
                 reverse=True)[:limit + 1] if parts else []
    rows = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.id.in_(ids))
                              .order_by(AuditEvent.id.desc())).all() if ids else []
    return keyset(rows, limit)


FEW = 2000  # a period's events sorted at the most, rather than walked to by id


def _few_in(where: list, filters: Filters) -> bool:
    """Whether the period (since, until) holds fewer than FEW events: counted along its
    range of (company_id, at), never more than FEW of them."""
    if filters.since is None and filters.until is None:
        return False
    probe = sa.select(AuditEvent.id).where(*where).limit(FEW).subquery()
    return db.session.scalar(sa.select(sa.func.count()).select_from(probe)) < FEW


# Each distinct action of a company, one probe of (company_id, action, id) each (a skip
# scan): the next action after the one found, in the index's order (whatever the collation).
_ACTIONS = sa.text("""
WITH RECURSIVE found(action) AS (
  SELECT min(action) FROM audit_events WHERE company_id = :company
  UNION ALL
  SELECT (SELECT min(e.action) FROM audit_events e
          WHERE e.company_id = :company AND e.action > found.action)
  FROM found WHERE found.action IS NOT NULL)
SELECT action FROM found WHERE action IS NOT NULL""")


def actions_of(company_id: int) -> list[str]:
    return list(db.session.scalars(_ACTIONS, {"company": company_id}))


_EVENT = AuditEventSchema()  # a schema is built once: building one costs more than a dump


def as_dict(event: AuditEvent) -> dict:
    return _EVENT.dump(event)
