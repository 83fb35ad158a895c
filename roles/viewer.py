"""The built-in roles of a company and the automatic scheduled-reports.viewer assignment."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Company, Role, RoleAssignment, TaskRecipient, User
from webapp.models.users import email_key

from .permissions import BUILTIN_ROLES, VIEWER_ROLE
from .sso import at_risk


def ensure_builtin_roles(company: Company) -> dict[str, Role]:
    """Create (or bring up to date) the built-in roles of a company."""
    existing = {r.name: r for r in db.session.scalars(
        sa.select(Role).where(Role.company_id == company.id, Role.builtin.is_(True)))}
    for name, (description, permissions) in BUILTIN_ROLES.items():
        role = existing.get(name)
        if role is None:
            role = Role(company_id=company.id, name=name, builtin=True)
            db.session.add(role)
            existing[name] = role
        role.description = description
        role.permissions = sorted(permissions)
    db.session.flush()
    return existing


def sync_recipient_roles(company_id: int) -> None:
    """Give the viewer role to every user who is a recipient of a task; take the automatic
    assignment back from users who no longer are. Manual and SSO assignments are untouched.
    Group addresses and inactive users never hold it."""
    viewer = db.session.scalar(sa.select(Role).where(
        Role.company_id == company_id, Role.name == VIEWER_ROLE))
    if viewer is None:
        return
    recipient_keys = sa.select(TaskRecipient.email_key).where(
        TaskRecipient.company_id == company_id)
    should = set(db.session.scalars(sa.select(User.id).where(
        User.company_id == company_id, User.email_key.in_(recipient_keys),
        User.is_group.is_(False), User.active.is_(True))))
    current = {a.user_id: a for a in db.session.scalars(sa.select(RoleAssignment).where(
        RoleAssignment.role_id == viewer.id, RoleAssignment.source == "recipient"))}
    for user_id in should - current.keys():
        db.session.add(RoleAssignment(user_id=user_id, role_id=viewer.id, source="recipient"))
    for user_id in current.keys() - should:
        db.session.delete(current[user_id])
    # A group email never holds a role, whatever gave it (an address flagged as a group later).
    groups = sa.select(User.id).where(User.company_id == company_id, User.is_group.is_(True))
    for assignment in db.session.scalars(sa.select(RoleAssignment).where(
            RoleAssignment.user_id.in_(groups))):
        db.session.delete(assignment)
    db.session.flush()


def download_blockers(company_id: int, emails: list[str],
                      report_type: str | None = None) -> dict[str, str]:
    """Recipients who will not be able to download, with the reason: not a user, a group
    email, an inactive user, or a user whose next SSO login would remove the viewer role
    (sync mode "replace all" without a mapped role that can download ``report_type``)."""
    users = {u.email_key: u for u in db.session.scalars(sa.select(User).where(
        User.company_id == company_id, User.email_key.in_([email_key(e) for e in emails])))}
    reasons = {}
    for email in emails:
        user = users.get(email_key(email))
        if user is None:
            reasons[email] = "not a user of this company: the address gets the email only"
        elif user.is_group:
            reasons[email] = "group email: it gets the email but cannot hold a role"
        elif not user.active:
            reasons[email] = "inactive user"
    rest = [e for e in emails if e not in reasons]
    if rest:
        risky = {email_key(e): r for e, r in at_risk(company_id, report_type=report_type,
                                                     only=rest).items()}
        reasons.update({e: risky[email_key(e)] for e in rest if email_key(e) in risky})
    return reasons
