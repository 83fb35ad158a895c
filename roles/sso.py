"""Single sign-on's role mapping: the hook (claims → role names), the role sync at login,
and who would lose download access under a sync mode. Logging in itself (Authlib, binding
the identity to a user) is webapp/services/sso.py.

The role-mapping hook turns the ID token's claims into Herald role names. The default,
:func:`map_roles`, reads the company's groups claim and its mapping (IdP group → role names).
A deployment replaces it with ``HERALD_SSO_ROLE_MAPPER=package.module:function``; the function
is called as ``function(claims, context)`` with the validated ID token claims (a dict) and a
:class:`MappingContext`, and returns an iterable of role names. It must be pure: no database,
no network. Names that are not roles of the company are logged and ignored — SSO never
creates a role.

Sync at login (the company's ``sync_mode``):

- ``sso_only`` (default): the mapped roles replace the roles that SSO gave earlier; manual and
  recipient (automatic viewer) assignments stay.
- ``replace_all``: the mapped roles replace every role of the user — the behaviour
  docs/product.md §6 warns about: an automatically assigned viewer role disappears unless the
  mapping gives a role that can download. :func:`at_risk` lists the recipients that would lose
  access.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import Role, RoleAssignment, SsoIdentity, SsoSettings, Task, TaskRecipient, User
from webapp.models.users import email_key

from .permissions import ADMIN_GROUP_PERMISSIONS, DOWNLOADS, MANAGE_USERS, download_permission

log = logging.getLogger(__name__)

DEFAULT_MAPPER = "roles.sso:map_roles"
SCOPES = "openid email profile"


@dataclass(frozen=True)
class MappingContext:
    """What the hook knows besides the claims: the company and its configured mapping."""

    company_slug: str
    groups_claim: str = "groups"
    role_mapping: dict[str, list[str]] = field(default_factory=dict)


# -- the hook -------------------------------------------------------------------------------


def claim_value(claims: dict, path: str):
    """A claim by name, or by a dotted path into nested objects (``realm_access.roles``)."""
    if path in claims:
        return claims[path]
    value = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def groups_of(claims: dict, groups_claim: str) -> list[str]:
    value = claim_value(claims, groups_claim)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [g for g in value if isinstance(g, str)]
    return []


def map_roles(claims: dict, context: MappingContext) -> list[str]:
    """The default hook: every role the company maps the user's IdP groups to."""
    names: dict[str, None] = {}
    for group in groups_of(claims, context.groups_claim):
        for name in context.role_mapping.get(group, ()):
            names[name] = None
    return list(names)


@lru_cache(maxsize=8)
def load_mapper(path: str) -> Callable[[dict, MappingContext], Iterable[str]]:
    """``package.module:function`` (or ``package.module.function``) → the function."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"HERALD_SSO_ROLE_MAPPER must be package.module:function, not {path!r}")
    func = getattr(importlib.import_module(module_name), attr, None)
    if not callable(func):
        raise ValueError(f"HERALD_SSO_ROLE_MAPPER: {path!r} is not a function")
    return func


def check_mapper(config) -> None:
    """Load the configured hook at start-up (better now than at someone's SSO login);
    ValueError names what is wrong."""
    path = config.get("SSO_ROLE_MAPPER")
    if path:
        try:
            load_mapper(path)
        except (ImportError, ValueError) as exc:
            raise ValueError(f"HERALD_SSO_ROLE_MAPPER={path} cannot be loaded: {exc}") from None


def context_for(settings: SsoSettings) -> MappingContext:
    return MappingContext(company_slug=settings.company.slug,
                          groups_claim=settings.groups_claim or "groups",
                          role_mapping={k: list(v) for k, v in
                                        (settings.role_mapping or {}).items()})


def mapped_role_names(claims: dict, settings: SsoSettings) -> list[str]:
    mapper = load_mapper(current_app.config.get("SSO_ROLE_MAPPER") or DEFAULT_MAPPER)
    names = mapper(dict(claims), context_for(settings))
    return [n for n in dict.fromkeys(names or ()) if isinstance(n, str)]


def resolve_roles(company_id: int, names: list[str], *, quiet: bool = False) -> list[Role]:
    """The company's roles of those names; unknown names are logged, never created."""
    found = {r.name: r for r in db.session.scalars(sa.select(Role).where(
        Role.company_id == company_id, Role.name.in_(names)))} if names else {}
    unknown = [n for n in names if n not in found]
    if unknown and not quiet:
        log.warning("SSO role mapping gave unknown role(s) %s for company %s; ignored "
                    "(SSO does not create roles)", ", ".join(repr(n) for n in unknown),
                    company_id)
    return [found[n] for n in names if n in found]


# -- sync -----------------------------------------------------------------------------------


def sync_roles(user: User, roles: list[Role], mode: str) -> None:
    """Apply the mapped roles to the user as SSO assignments, in the company's sync mode."""
    wanted = {r.id for r in roles}
    current = list(db.session.scalars(sa.select(RoleAssignment).where(
        RoleAssignment.user_id == user.id)))
    keep = _last_way_in(user, current, roles) if mode == "replace_all" else set()
    for assignment in current:
        if mode == "replace_all" or assignment.source == "sso":
            if assignment.source == "sso" and assignment.role_id in wanted:
                continue
            if assignment.id in keep:
                continue
            db.session.delete(assignment)
    have_sso = {a.role_id for a in current if a.source == "sso" and a.role_id in wanted}
    for role_id in wanted - have_sso:
        db.session.add(RoleAssignment(user_id=user.id, role_id=role_id, source="sso"))
    db.session.flush()
    db.session.expire(user, ["assignments"])


def _last_way_in(user: User, current: list[RoleAssignment], roles: list[Role]) -> set[int]:
    """Under "replace all", the user's assignments that must stay because nobody else in the
    company could manage users and roles afterwards (the company would be locked out)."""
    if MANAGE_USERS in {p for r in roles for p in r.permissions or ()}:
        return set()
    granting = [r.id for r in db.session.scalars(sa.select(Role).where(
        Role.company_id == user.company_id)) if MANAGE_USERS in (r.permissions or ())]
    others = db.session.scalar(sa.select(sa.func.count(RoleAssignment.id)).join(
        User, User.id == RoleAssignment.user_id).where(
        RoleAssignment.role_id.in_(granting), RoleAssignment.user_id != user.id,
        User.active.is_(True), User.is_group.is_(False))) if granting else 0
    if others:
        return set()
    keep = {a.id for a in current if a.source != "sso" and a.role_id in granting}
    if keep:
        log.warning("SSO sync (replace all) kept %s's roles that manage users: nobody else in "
                    "company %s could manage users and roles", user.email, user.company_id)
    return keep


# -- who would lose download access ---------------------------------------------------------


def _recipient_types(company_id: int) -> dict[str, set[str]]:
    """email_key → the report types of the tasks that person receives."""
    rows = db.session.execute(sa.select(TaskRecipient.email_key, Task.report_type).join(
        Task, Task.id == TaskRecipient.task_id).where(TaskRecipient.company_id == company_id))
    out: dict[str, set[str]] = {}
    for key, rtype in rows:
        out.setdefault(key, set()).add(rtype)
    return out


def at_risk(company_id: int, mode: str | None = None, report_type: str | None = None,
            only: Iterable[str] | None = None) -> dict[str, str]:
    """Recipients (email → reason) who would lose download access at their next SSO login
    under ``mode`` (default: the company's saved mode). Empty unless SSO is on and the mode is
    ``replace_all``: ``sso_only`` keeps the recipient and manual assignments."""
    settings = db.session.scalar(sa.select(SsoSettings).where(
        SsoSettings.company_id == company_id))
    mode = mode or (settings.sync_mode if settings else None)
    if settings is None or not settings.enabled or mode != "replace_all":
        return {}
    types_by_key = _recipient_types(company_id)
    keys = set(types_by_key) if only is None else {email_key(e) for e in only}
    if not keys:
        return {}
    users = db.session.scalars(sa.select(User).where(
        User.company_id == company_id, User.email_key.in_(keys), User.is_group.is_(False),
        User.active.is_(True))).all()
    identities = {i.user_id: i for i in db.session.scalars(sa.select(SsoIdentity).where(
        SsoIdentity.user_id.in_([u.id for u in users])))} if users else {}
    out = {}
    for user in users:
        types = {report_type} if report_type else types_by_key.get(user.email_key, set())
        if not types:
            continue
        identity = identities.get(user.id)
        if identity is None:
            names, perms = [], frozenset()
        else:
            roles = resolve_roles(company_id, mapped_role_names(identity.last_claims or {},
                                                                settings), quiet=True)
            names = [r.name for r in roles]
            perms = frozenset(p for r in roles for p in r.permissions or ())
        if ADMIN_GROUP_PERMISSIONS <= perms:
            continue
        lost = sorted(DOWNLOADS[t] for t in types
                      if t in DOWNLOADS and download_permission(t) not in perms)
        if not lost:
            continue
        if identity is None:
            why = ("SSO sync would remove the role: at the first SSO login the mapped roles "
                   "replace every role, and nothing shows the mapping gives one that can "
                   f"download ({'; '.join(lost)})")
        else:
            given = ", ".join(names) or "no role"
            why = (f"SSO sync would remove the role: the identity provider's groups map to "
                   f"{given}, which lacks {'; '.join(lost)}")
        out[user.email] = why
    return out
